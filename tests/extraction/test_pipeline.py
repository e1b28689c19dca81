"""The framework-free extraction pipeline, on small documents made by the tests."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from extraction.pipeline import (
    Corrupt,
    DecompressionBomb,
    Empty,
    Encrypted,
    ExtractionError,
    Limits,
    Timeout,
    TooLarge,
    TooManyPages,
    UnsupportedType,
    extract,
)

EVAL_DIR = Path(
    os.environ.get("EXTRACTION_EVAL_DIR", Path(__file__).resolve().parents[3] / "shared" / "eval")
)


# --------------------------------------------------------------------------- builders


def make_pdf(pages: list[list[str | bytes]], encrypt: bool = False) -> bytes:
    """A minimal PDF with one Helvetica text line per string (72 pt from the left);
    a ``bytes`` item is a line of raw text operators."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    pages_id = len(objects) + 1 + 2 * len(pages)  # reserved below
    kids = []
    for lines in pages:
        ops = [b"BT /F1 12 Tf 14 TL 72 760 Td"]
        for text in lines:
            if isinstance(text, bytes):
                ops.append(text + b" T*")
                continue
            escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*".encode("latin-1"))
        ops.append(b"ET")
        stream = b"\n".join(ops)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, content, font)
            )
        )
    assert (
        add(
            b"<< /Type /Pages /Kids [%s] /Count %d >>"
            % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
        )
        == pages_id
    )
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    trailer_extra = b""
    if encrypt:
        # Standard security handler with a user password we do not know.
        enc = add(
            b"<< /Filter /Standard /V 1 /R 2 /P -44 /O <"
            + b"11" * 32
            + b"> /U <"
            + b"22" * 32
            + b"> >>"
        )
        trailer_extra = b" /Encrypt %d 0 R /ID [<" % enc + b"33" * 16 + b"> <" + b"33" * 16 + b">]"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root %d 0 R%s >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, catalog, trailer_extra, xref)
    )
    return out.getvalue()


def text_image(lines: list[str], size=(720, 420)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    y = 20
    for line in lines:
        draw.text((20, y), line, fill="black", font=font)
        y += 56
    return image


def image_bytes(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims widthxheight pixels but carries almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def docx_bytes() -> bytes:
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_paragraph("Jane Doe")
    document.add_paragraph("Acme Widgets B.V.")
    document.add_paragraph("Email: jane.doe@acme.example.com")
    document.add_paragraph("Phone: +31 20 123 4567")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Customer number"
    table.cell(0, 1).text = "C-1234"
    table.cell(1, 0).text = "Order date"
    table.cell(1, 1).text = "2024-05-17"
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


RECEIPT_LINES = [
    "ACME TRADING SDN BHD",
    "12 JALAN MAJU, 50000 KUALA LUMPUR",
    "Date: 25/12/2018",
    "TOTAL   RM 42.50",
    "CASH    RM 50.00",
]


def ocr_available() -> bool:
    try:
        from extraction.pipeline.ocr import get_engine

        get_engine()
        return True
    except Exception:
        return False


needs_ocr = pytest.mark.skipif(not ocr_available(), reason="no OCR engine installed")


# --------------------------------------------------------------------------- text inputs


def test_txt_entities_and_key_values():
    data = (
        b"Order summary\n"
        b"Customer: Bob Smith\n"
        b"Email: bob@example.org\n"
        b"Phone: +1 415 555 0100\n"
        b"Date: 2024-03-05\n"
        b"Total: $1,234.50\n"
        b"See https://example.org/orders/7\n"
    )
    result = extract(data, "order.txt")
    assert result.media_type == "text/plain"
    assert result.pages[0].method == "text-layer"
    assert "Bob Smith" in result.pages[0].text
    assert [e["value"] for e in result.entities["emails"]] == ["bob@example.org"]
    assert [p["value"] for p in result.entities["phones"]] == ["+14155550100"]
    assert "2024-03-05" in [d["value"] for d in result.entities["dates"]]
    assert any(
        a["value"] == "1234.50" and a["currency"] == "USD" for a in result.entities["amounts"]
    )
    assert any("example.org/orders/7" in u["value"] for u in result.entities["urls"])
    assert {"key": "Customer", "value": "Bob Smith", "page": 1} in result.key_values
    json.dumps(result.to_dict())  # JSON-serialisable


def test_csv_rows_become_lines_and_key_values():
    data = b"field,value\ninvoice,INV-42\namount,19.99\n"
    result = extract(data, "data.csv")
    assert result.media_type == "text/csv"
    assert result.pages[0].text.splitlines()[1] == "invoice\tINV-42"
    assert {"key": "amount", "value": "19.99", "page": 1} in result.key_values


def test_docx_paragraphs_tables_and_contact_fields():
    result = extract(docx_bytes(), "card.docx", doc_type="contact")
    assert result.media_type.endswith("wordprocessingml.document")
    fields = {f.name: f for f in result.fields}
    assert fields["name"].value == "Jane Doe"
    assert fields["email"].normalized == "jane.doe@acme.example.com"
    assert fields["phone"].normalized == "+31201234567"
    assert fields["company"].value == "Acme Widgets B.V."
    assert {"key": "Customer number", "value": "C-1234", "page": 1} in result.key_values


def test_pdf_text_layer_invoice_fields_with_boxes():
    pdf = make_pdf(
        [
            [
                "Widget Works GmbH",
                "Invoice Number: INV-2024-0042",
                "Invoice Date: 17 May 2024",
                "Bill to: Someone Else Ltd",
                "Subtotal: EUR 100,00",
                "Total due: EUR 119,00",
            ]
        ]
    )
    result = extract(pdf, "invoice.pdf", doc_type="invoice")
    assert result.media_type == "application/pdf"
    page = result.pages[0]
    assert page.method == "text-layer" and page.width == 612 and page.height == 792
    fields = {f.name: f for f in result.fields}
    assert fields["invoice_number"].value == "INV-2024-0042"
    assert fields["date"].normalized == "2024-05-17"
    assert fields["amount"].normalized == "119.00"
    assert fields["currency"].value == "EUR"
    assert fields["issuer"].value == "Widget Works GmbH"
    box = fields["invoice_number"].source.box
    assert box is not None and 0 <= box[0] < box[2] <= 612 and 0 <= box[1] < box[3] <= 792
    assert fields["invoice_number"].source.page == 1


def test_pdf_superscripts_and_subscripts_stay_on_their_line():
    # pdfium starts a new line wherever the baseline moves; a raised "2" or a lowered
    # index belongs to the words around it ("R2", "x1").
    # As TeX writes them: each run placed with its own matrix, scripts in a smaller size.
    pdf = make_pdf(
        [
            [
                b"1 0 0 1 72 760 Tm (Sei X = R) Tj /F1 8 Tf 1 0 0 1 123 765 Tm (2) Tj "
                b"/F1 12 Tf 1 0 0 1 127.5 760 Tm ( und x) Tj /F1 8 Tf 1 0 0 1 160.2 757 Tm (1) Tj "
                b"/F1 12 Tf 1 0 0 1 164.6 760 Tm ( > 0.) Tj",
                b"1 0 0 1 72 746 Tm (Zweite Zeile) Tj",
            ]
        ]
    )
    text = extract(pdf, "script.pdf", doc_type="generic").pages[0].text
    assert text.splitlines() == ["Sei X = R2 und x1 > 0.", "Zweite Zeile"]


def test_schema_fields_by_label_and_type():
    data = (
        b"Reference: PO-7781\nDelivery date: 03/04/2024\n"
        b"Contact: ops@example.com\nNet weight: 12.5 kg\n"
    )
    schema = [
        {"name": "reference", "type": "text"},
        {"name": "delivery", "type": "date", "hint": "delivery date"},
        {"name": "contact_email", "type": "email"},
        {"name": "weight", "type": "number", "hint": "net weight"},
        {"name": "missing", "type": "text"},
    ]
    result = extract(data, "note.txt", schema=schema)
    fields = {f.name: f for f in result.fields}
    assert fields["reference"].value == "PO-7781"
    assert fields["delivery"].normalized == "2024-04-03"  # day first by default
    assert fields["contact_email"].normalized == "ops@example.com"
    assert fields["weight"].normalized == "12.5"
    assert fields["missing"].value is None


# --------------------------------------------------------------------------- OCR inputs


@needs_ocr
def test_png_receipt_through_ocr():
    data = image_bytes(text_image(RECEIPT_LINES), "PNG")
    result = extract(data, "receipt.png", doc_type="receipt")
    assert result.media_type == "image/png"
    page = result.pages[0]
    assert page.method == "ocr" and (page.width, page.height) == (720, 420)
    fields = {f.name: f for f in result.fields}
    assert fields["company"].value == "ACME TRADING SDN BHD"
    assert fields["date"].value == "25/12/2018" and fields["date"].normalized == "2018-12-25"
    assert fields["total"].value == "42.50"
    assert "KUALA LUMPUR" in fields["address"].value
    assert fields["total"].source.box is not None


@needs_ocr
def test_an_upside_down_scan_is_read_top_to_bottom():
    data = image_bytes(text_image(RECEIPT_LINES).rotate(180), "PNG")
    result = extract(data, "upside-down.png", doc_type="receipt")
    page = result.pages[0]
    assert page.text.splitlines()[0] == RECEIPT_LINES[0]
    fields = {f.name: f for f in result.fields}
    assert fields["company"].value == "ACME TRADING SDN BHD"
    assert fields["total"].value == "42.50"
    # boxes are given as on the page turned the right way up: the name is at the top
    assert fields["company"].source.box[1] < 60


@needs_ocr
def test_scanned_pdf_pages_are_ocrd():
    buf = io.BytesIO()
    text_image(["Invoice Number: 99812", "Total: 15.00"]).save(buf, format="PDF", resolution=100)
    result = extract(buf.getvalue(), "scan.pdf")
    assert result.pages[0].method == "ocr"
    assert "99812" in result.pages[0].text


@needs_ocr
def test_jpeg_and_webp_are_accepted():
    image = text_image(["HELLO WORLD 2024"], size=(480, 100))
    for fmt, name in (("JPEG", "a.jpg"), ("WEBP", "a.webp")):
        result = extract(image_bytes(image, fmt), name)
        assert "HELLO" in result.pages[0].text.upper()


# --------------------------------------------------------------------------- refused inputs


@pytest.mark.parametrize(
    "data, name",
    [
        (image_bytes(Image.new("RGB", (10, 10)), "PNG"), "renamed.pdf"),
        (b"just some text\n", "photo.png"),
        (make_pdf([["hello"]]), "letter.docx"),
        (b"GIF89a" + b"\x00" * 20, "anim.gif"),
        (b"hello", "program.exe"),
    ],
)
def test_renamed_or_unsupported_files_are_refused(data, name):
    with pytest.raises(UnsupportedType) as info:
        extract(data, name)
    assert info.value.http_status == 415
    assert info.value.code == "unsupported_type"


def test_encrypted_pdf_is_refused():
    with pytest.raises(Encrypted) as info:
        extract(make_pdf([["secret"]], encrypt=True), "secret.pdf")
    assert info.value.http_status == 422


def test_encrypted_office_file_is_refused():
    ole = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 100
        + "EncryptedPackage".encode("utf-16-le")
        + b"\x00" * 100
    )
    with pytest.raises(Encrypted):
        extract(ole, "locked.docx")


@pytest.mark.parametrize(
    "data, name",
    [
        (b"%PDF-1.7\n1 0 obj garbage that is not a pdf", "broken.pdf"),
        (image_bytes(Image.new("RGB", (50, 50)), "PNG")[:60], "cut.png"),
        (b"PK\x03\x04" + b"\x00" * 40, "broken.docx"),
    ],
)
def test_corrupt_files_are_refused(data, name):
    with pytest.raises(Corrupt) as info:
        extract(data, name)
    assert info.value.http_status == 422


def test_decompression_bomb_image_is_refused():
    with pytest.raises(DecompressionBomb):
        extract(png_header_only(100_000, 100_000), "bomb.png")


def test_pixel_limit_applies_to_ordinary_images():
    data = image_bytes(Image.new("RGB", (200, 200), "white"), "PNG")
    with pytest.raises(DecompressionBomb):
        extract(data, "big.png", limits=Limits(max_pixels=10_000))


def test_zip_bomb_docx_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w") as member:
            chunk = b"\x00" * (1 << 20)
            for _ in range(140):
                member.write(chunk)
    with pytest.raises(DecompressionBomb):
        extract(buf.getvalue(), "bomb.docx")


@pytest.mark.parametrize("data", [b"", b"   \n\t\n"])
def test_empty_files_are_refused(data):
    with pytest.raises(Empty) as info:
        extract(data, "empty.txt")
    assert info.value.http_status == 422


def test_size_and_page_limits():
    with pytest.raises(TooLarge) as info:
        extract(b"x" * 2000, "big.txt", limits=Limits(max_bytes=1000))
    assert info.value.http_status == 413
    with pytest.raises(TooManyPages):
        extract(make_pdf([["one"], ["two"], ["three"]]), "long.pdf", limits=Limits(max_pages=2))


def test_time_limit():
    with pytest.raises(Timeout):
        extract(make_pdf([["one"]] * 5), "slow.pdf", limits=Limits(timeout_seconds=1e-9))


def test_errors_carry_code_message_and_status():
    with pytest.raises(ExtractionError) as info:
        extract(b"", "x.txt")
    assert info.value.to_dict() == {"code": "empty", "message": "The file is empty."}


def test_unknown_doc_type_is_rejected():
    with pytest.raises(ExtractionError):
        extract(b"hello", "a.txt", doc_type="passport")


# --------------------------------------------------------------------------- evaluation smoke


@pytest.mark.skipif(not (EVAL_DIR / "invoices").is_dir(), reason="../shared/eval is absent")
def test_eval_smoke_invoices():
    from extraction.evaluation import evaluate, format_report

    report = evaluate(EVAL_DIR / "invoices", limit=2)
    assert report["dataset"] == "invoices" and report["metrics"]["documents"] == 2
    assert len(report["rows"]) == 2
    assert "field_accuracy" in format_report(report)


@needs_ocr
@pytest.mark.skipif(not (EVAL_DIR / "sroie").is_dir(), reason="../shared/eval is absent")
def test_eval_smoke_receipts():
    from extraction.evaluation import evaluate

    report = evaluate(EVAL_DIR / "sroie", limit=2)
    assert report["metrics"]["documents"] == 2
    assert set(report["metrics"]["accuracy"]) == {"company", "date", "address", "total"}


def test_isolated_extraction_returns_results_and_errors():
    from extraction.pipeline import extract_isolated

    result = extract_isolated(b"Invoice No: 123\nTotal: 5.00 EUR\n", "a.txt", doc_type="invoice")
    assert {f.name: f.value for f in result.fields}["invoice_number"] == "123"
    with pytest.raises(Empty):
        extract_isolated(b"", "a.txt")


@needs_ocr
def test_multi_frame_tiff_gives_one_page_per_frame():
    frames = [text_image([f"PAGE {n} OF TWO"], size=(480, 100)) for n in (1, 2)]
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:])
    result = extract(buf.getvalue(), "scan.tiff")
    assert result.media_type == "image/tiff"
    assert [p.number for p in result.pages] == [1, 2]
    assert "2" in result.pages[1].text
    with pytest.raises(TooManyPages):
        extract(buf.getvalue(), "scan.tif", limits=Limits(max_pages=1))


def test_sroie_transcript_reference_points(tmp_path):
    from extraction.evaluation import sroie_transcript_metrics

    (tmp_path / "box").mkdir()
    (tmp_path / "key").mkdir()
    rows = [
        "ACME TRADING SDN BHD",
        "NO 1, JALAN SATU,",
        "50000 KUALA LUMPUR",
        "DATE: 01/02/2019",
        "TOTAL: 12.50",
    ]
    (tmp_path / "box" / "000.csv").write_text(
        "".join(
            f"10,{30 * i},300,{30 * i},300,{30 * i + 20},10,{30 * i + 20},{t}\n"
            for i, t in enumerate(rows)
        )
    )
    truth = {
        "company": "ACME TRADING SDN BHD",
        "date": "01/02/2019",
        "address": "NO 1,JALAN SATU, 50000 KUALA LUMPUR",  # typed differently from the print
        "total": "12.50",
    }
    (tmp_path / "key" / "000.json").write_text(json.dumps(truth))
    metrics = sroie_transcript_metrics(tmp_path, ["000"])
    assert metrics["transcript_reachable"] == {"company": 1.0, "address": 0.0}
    assert metrics["transcript_reachable_span"] == {"company": 1.0, "address": 0.0}
    assert metrics["fields_from_transcripts"] == {
        "company": 1.0,
        "date": 1.0,
        "address": 0.0,
        "total": 1.0,
    }


def test_a_damaged_pdf_reason_reads_as_two_plain_sentences() -> None:
    from extraction.pipeline.errors import Corrupt
    from extraction.pipeline.text import _open_pdf

    with pytest.raises(Corrupt) as raised:
        _open_pdf(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    reason = raised.value.message
    assert reason.startswith("The PDF is damaged and cannot be opened. ")
    assert ".)" not in reason and ".." not in reason and reason.endswith(".")
    assert reason.count("(") <= 1


def test_sroie_transcript_span_reaches_an_address_that_starts_inside_a_line(tmp_path):
    from extraction.evaluation import sroie_transcript_metrics

    (tmp_path / "box").mkdir()
    (tmp_path / "key").mkdir()
    rows = ["ACME TRADING SDN BHD", "ADDRESS: NO 1, JALAN SATU,", "50000 KUALA LUMPUR."]
    (tmp_path / "box" / "000.csv").write_text(
        "".join(
            f"10,{30 * i},300,{30 * i},300,{30 * i + 20},10,{30 * i + 20},{t}\n"
            for i, t in enumerate(rows)
        )
    )
    truth = {"company": "ACME TRADING", "address": "NO 1, JALAN SATU, 50000 KUALA LUMPUR"}
    (tmp_path / "key" / "000.json").write_text(json.dumps(truth))
    metrics = sroie_transcript_metrics(tmp_path, ["000"])
    assert metrics["transcript_reachable"] == {"company": 0.0, "address": 0.0}
    assert metrics["transcript_reachable_span"] == {"company": 1.0, "address": 1.0}
