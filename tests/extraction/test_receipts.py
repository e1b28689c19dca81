"""Receipt fields chosen by the fitted model, its features, and how it is trained.

Every page here is made up by the tests (same shape as a printed receipt, no real one).
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from extraction.pipeline import receipts
from extraction.pipeline.dates import find_dates
from extraction.pipeline.fields import rows_of
from extraction.pipeline.ocr import tidy_reading
from extraction.pipeline.result import Line, Page

WIDTH = 600


def boxed_page(lines: list[tuple[str, str]]) -> Page:
    """A receipt page: each line (text, alignment) 30 px apart; centred lines are the
    header, left lines the body; an amount column sits on the right."""
    out = []
    for i, (text, align) in enumerate(lines):
        width = 14 * len(text)
        x0 = {"c": (WIDTH - width) / 2, "l": 40, "r": WIDTH - 40 - width}[align]
        y0 = 40 + 30 * i
        height = 26 if i == 0 else 20
        out.append(Line(text=text, box=(x0, y0, x0 + width, y0 + height), score=0.95))
    text = "\n".join(t for t, _ in lines)
    return Page(number=1, text=text, width=WIDTH, height=40 + 30 * len(lines) + 40,
                method="ocr", lines=out)  # fmt: skip


RECEIPT = [
    ("KEDAI RUNCIT MAJU JAYA SDN BHD", "c"),
    ("(123456-A)", "c"),
    ("NO 12, JALAN BUNGA RAYA 3,", "c"),
    ("TAMAN SERI INDAH,", "c"),
    ("43000 KAJANG, SELANGOR.", "c"),
    ("TEL: 03-8733 1234", "c"),
    ("GST ID: 001234567890", "c"),
    ("TAX INVOICE", "c"),
    ("DATE: 14/03/2018 TIME: 10:22", "l"),
    ("CASHIER: AMIN", "l"),
    ("MILO 1KG 1 X 21.90 21.90", "l"),
    ("ROTI GARDENIA 2 X 3.60 7.20", "l"),
    ("SUB TOTAL 29.10", "l"),
    ("GST 6% 1.65", "l"),
    ("TOTAL 30.75", "l"),
    ("CASH 50.00", "l"),
    ("CHANGE 19.25", "l"),
    ("THANK YOU, PLEASE COME AGAIN", "c"),
]


def fields_of(page: Page) -> dict:
    return {f.name: f for f in receipts.receipt_fields([page])}


# --------------------------------------------------------------------------- features


def test_line_features_describe_layout_text_neighbours_and_label_words():
    rows = rows_of([boxed_page(RECEIPT)])
    features = receipts.line_features(rows)
    name, address_end, total = features[0], features[4], features[14]
    assert name["legal_forms"] >= 1 and name["y_top"] < 0.1 and name["height"] > 1
    assert name["n1_reg_no"] == 1.0  # the registration number under it
    assert name["p2_legal_forms"] == -1.0  # nothing above the first line
    assert address_end["postcode"] == 1.0 and address_end["place_words"] >= 2
    assert address_end["n1_contact_labels"] >= 1  # the phone line follows
    assert total["total_labels"] >= 1 and total["money"] == 1
    assert total["above_postcode"] == 1.0 and total["above_has_date"] == 1.0


def test_every_date_and_amount_is_a_candidate_with_its_context():
    rows = rows_of([boxed_page(RECEIPT)])
    lines = receipts.line_features(rows)
    dates = receipts.date_candidates(rows, lines)
    assert [m.iso for _, m, _ in dates] == ["2018-03-14"]
    assert dates[0][2]["label_before"] == 1 and dates[0][2]["time_in_row"] == 1
    totals = {str(v): f for _, _, v, f in receipts.total_candidates(rows, lines)}
    assert totals["30.75"]["label_total_labels"] == 1 and totals["30.75"]["equals_paid"] == 1
    assert totals["29.10"]["label_subtotal_labels"] >= 1
    assert totals["50.00"]["label_tender_labels"] == 1 and totals["50.00"]["is_max"] == 1


# --------------------------------------------------------------------------- decisions


def test_the_model_picks_name_address_date_and_total_on_a_made_up_receipt():
    fields = fields_of(boxed_page(RECEIPT))
    assert fields["company"].value == "KEDAI RUNCIT MAJU JAYA SDN BHD"
    assert fields["address"].value == (
        "NO 12, JALAN BUNGA RAYA 3, TAMAN SERI INDAH, 43000 KAJANG, SELANGOR."
    )
    assert fields["date"].value == "14/03/2018" and fields["date"].normalized == "2018-03-14"
    assert fields["total"].value == "30.75" and fields["total"].normalized == "30.75"
    # the address's source box spans its three lines
    box = fields["address"].source.box
    assert box[1] == 100 and box[3] == 180
    assert all(0 < f.confidence <= 1 for f in fields.values())


def test_an_empty_page_gives_empty_fields():
    page = Page(number=1, text="", width=None, height=None, method="ocr")
    assert {f.name: f.value for f in receipts.receipt_fields([page])} == {
        "company": None,
        "address": None,
        "date": None,
        "total": None,
    }


@pytest.mark.parametrize(
    ("printed", "value"),
    [("TOTAL RM8.60", "RM8.60"), ("TOTAL RM 8.60", "8.60"), ("TOTAL: $7.10", "$7.10")],
)
def test_a_currency_sign_glued_to_the_amount_is_part_of_it(printed, value):
    tok = receipts.money_tokens(printed)[-1]
    assert receipts.printed_amount(tok) == value


@pytest.mark.parametrize(
    ("lines", "total"),
    [
        # a total read one digit off is settled by what was tendered and given back
        (["TOTAL (RM) : 112.85", "CASH : 112.45", "CHANGE : 0.00"], "112.45"),
        # paid after rounding to 0.05: the receipt's total is the amount before it
        (["TOTAL (RM) : 26.82", "ROUNDING : -0.02", "CASH : 30.00", "CHANGE : 3.20"], "26.82"),
        # a change misread by more than a rounding step does not override the total
        (["Total Sales (Inclusive GST) RM 141.50", "CASH RM 150.00", "CHANGE RM 3.50"], "141.50"),
    ],
)
def test_the_total_is_checked_against_tender_and_change(lines, total):
    header = ["ACME TRADING SDN BHD", "NO 1, JALAN SATU,", "50000 KUALA LUMPUR"]
    page = boxed_page(
        [(t, "c") for t in header] + [("ITEM A 2 X 10.00 20.00", "l")] + [(t, "l") for t in lines]
    )
    assert fields_of(page)["total"].value == total


def test_tender_minus_change_is_what_was_paid():
    page = boxed_page([("TOTAL 12.46", "l"), ("CASH 20.00", "l"), ("CHANGE 7.55", "l")])
    paid = receipts.paid_amount(rows_of([page]))
    assert paid is not None and str(paid[0]) == "12.45"
    page = boxed_page([("CASH", "l"), ("TOTAL 3.00", "l")])  # no tender amount, no change
    assert receipts.paid_amount(rows_of([page])) is None


def test_names_lose_registration_numbers_and_ocr_specks():
    assert receipts.clean_company("ACME TRADING SDN BHD (123456-A)") == "ACME TRADING SDN BHD"
    assert receipts.clean_company("GLOBAL KITCHEN INTERNATIONAL-SDN BHD") == (
        "GLOBAL KITCHEN INTERNATIONAL SDN BHD"
    )
    assert receipts.clean_company("KEDAI-KOPI MAJU SDN BHD") == "KEDAI-KOPI MAJU SDN BHD"
    assert receipts.printed_spacing("MR. A.B.C.(M) SDN.BHD.") == "MR. A.B.C. (M) SDN. BHD."
    assert receipts.clean_company("ACME TRADING SDN BHD (123456-A),") == "ACME TRADING SDN BHD"
    assert receipts.clean_company("THE SHOP (KL) SDN BHD (1234K)") == "THE SHOP (KL) SDN BHD"
    assert receipts.clean_company("ACME FOODS S/B 123456-U (AFS)") == "ACME FOODS S/B"
    assert receipts.clean_company("ACME CO. (M) BHD'(123456-H)") == "ACME CO. (M) BHD"
    assert receipts.clean_address("LOT 5, JALAN SATU, 53300KL TEL: 03-1234") == (
        "LOT 5, JALAN SATU, 53300 KL"
    )
    # OCR keeps a page's mixed case; a postcode glued to the town is still split.
    assert receipts.clean_address("No 5, Jalan Satu, 52200Kuala Lumpur.") == (
        "No 5, Jalan Satu, 52200 Kuala Lumpur."
    )


def test_a_period_between_address_parts_reads_as_a_comma_but_abbreviations_keep_theirs():
    text = "LOT 7. JALAN SATU. TAMAN DUA, LOT P.T. 12, KG. BARU 53300 KUALA LUMPUR."
    assert receipts.clean_address(text) == (
        "LOT 7, JALAN SATU, TAMAN DUA, LOT P.T. 12, KG. BARU 53300 KUALA LUMPUR."
    )


def test_an_address_word_misread_with_i_for_l_and_o_for_zero_is_read_as_printed():
    assert receipts.clean_address("NO 2O, Jaian Satu, 40150 SHAH AIAM, JIN DUA") == (
        "NO 20, Jalan Satu, 40150 SHAH ALAM, JIN DUA"
    )
    # A word that is on the lists as read stays as read.
    assert receipts.clean_address("NO 5, JALAN IPOH, KLIA") == "NO 5, JALAN IPOH, KLIA"


def test_an_address_starts_at_its_number_not_at_the_branch_name_above_it():
    lines = ["ACME SDN BHD", "ACME MART TAMAN DUA", "NO 5, JALAN SATU,", "53300 KUALA LUMPUR"]
    rows = rows_of([boxed_page([(t, "c") for t in lines])])
    assert receipts._address_start(rows, [1, 2, 3]) == [2, 3]
    # A street line above the postcode line is the address itself.
    lines = ["ACME SDN BHD", "JALAN LAPANGAN TERBANG", "47200 SUBANG"]
    rows = rows_of([boxed_page([(t, "c") for t in lines])])
    assert receipts._address_start(rows, [1, 2]) == [1, 2]


def test_an_address_comma_gets_the_space_the_page_gives_its_other_commas():
    spaced = rows_of([boxed_page([("NO 5, JALAN SATU,", "c"), ("53300,KUALA LUMPUR", "c")])])
    glued = rows_of([boxed_page([("NO 5,JALAN SATU,", "c"), ("53300,KUALA LUMPUR", "c")])])
    text = "NO 5, JALAN SATU, 53300,KUALA LUMPUR"
    assert receipts.commas_spaced(spaced) and not receipts.commas_spaced(glued)
    assert receipts.clean_address(text, spaced_commas=True) == (
        "NO 5, JALAN SATU, 53300, KUALA LUMPUR"
    )
    assert receipts.clean_address("NO 5,JALAN SATU,53300,KUALA LUMPUR") == (
        "NO 5,JALAN SATU,53300,KUALA LUMPUR"
    )
    # An amount's thousands separator is not an address comma.
    assert (
        receipts.clean_address("LOT 1,234 JALAN DUA", spaced_commas=True) == "LOT 1,234 JALAN DUA"
    )


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("text", "printed", "iso"),
    [
        ("23/06/1812:46:33", "23/06/18", "2018-06-23"),
        ("#19536001/06/2018", "01/06/2018", "2018-06-01"),
        ("2018-06-2312:00", "2018-06-23", "2018-06-23"),
        ("05/01/201810:27", "05/01/2018", "2018-01-05"),
        ("REG #19-18/03/201823:02:16", "18/03/2018", "2018-03-18"),
        ("0044001 25032018 13:11:54", "25032018", "2018-03-25"),
    ],
)
def test_dates_glued_to_a_time_or_a_number_are_read(text, printed, iso):
    found = find_dates(text)
    assert [(m.text, m.iso) for m in found] == [(printed, iso)]


def test_phone_numbers_are_not_dates():
    assert find_dates("TEL 03-12345678 FAX 1234567890") == []


def test_accents_are_stripped_only_from_a_page_written_without_them():
    body = [Line(t) for t in ["NO 5, JALAN SATU, 40000 SHAH ALAM", "ROTI CANAI 2 X 1.50"] * 5]
    plain = [Line("ÁLAM BESAR SDN BHD"), *body]
    assert tidy_reading(plain)[0].text == "ALAM BESAR SDN BHD"
    assert [ln.text for ln in tidy_reading(plain)[1:]] == [ln.text for ln in body]
    french = [Line("Facture numéro 12 émise à Genève, réglée")]
    assert tidy_reading(french)[0].text == "Facture numéro 12 émise à Genève, réglée"
    chinese = [Line("TOTAL 12.00 总计")] * 10 + [Line("É")]
    assert tidy_reading(chinese)[0].text == "TOTAL 12.00 总计"


def test_reading_metrics_count_characters_and_spacing_separately():
    from extraction.training import reading_metrics

    truth = [Line("NO 5, JALAN SATU.", (10, 10, 300, 30)), Line("TOTAL: 5.00", (10, 40, 300, 60))]
    read = [
        Line("NO 5,JALAN SATU.", (12, 11, 298, 29)),  # the comma's space dropped
        Line("Total:", (10, 40, 100, 60)),  # one line read as two segments
        Line("5.O0", (200, 40, 300, 60)),  # "O" for "0"
        Line("SPECK", (10, 200, 50, 220)),  # on no transcript line: not counted
    ]
    metrics = reading_metrics([(truth, read)])
    assert metrics["char_accuracy"] == round(1 - 1 / 24, 4)
    assert metrics["spacing_,"] == 0.0 and metrics["spacing_:"] == 1.0
    assert metrics["line_kept_whole"] == 0.5


# --------------------------------------------------------------------------- training

NAMES = ["ACME", "BINTANG", "CAHAYA", "DELIMA", "EMAS", "FAJAR", "GEMILANG", "HARAPAN"]
TOWNS = ["KAJANG", "KLANG", "PUCHONG", "SEREMBAN"]


def make_training_set(folder: Path, count: int = 16) -> None:
    """Made-up receipts in the training layout: box/NNN.csv and key/NNN.json."""
    (folder / "sroie" / "box").mkdir(parents=True)
    (folder / "sroie" / "key").mkdir()
    for n in range(count):
        name = f"{NAMES[n % len(NAMES)]} TRADING SDN BHD"
        town = TOWNS[n % len(TOWNS)]
        total = f"{10 + 3 * n}.{n % 10}0"
        lines = [
            name,
            f"({100000 + n}-X)",
            f"NO {n + 1}, JALAN {NAMES[(n + 3) % len(NAMES)]} {n % 5 + 1},",
            f"{43000 + n} {town}, SELANGOR",
            f"TEL: 03-{8000 + n} {1000 + n}",
            f"DATE: {n % 27 + 1:02d}/0{n % 9 + 1}/2018",
            f"ITEM A 1 X {n + 2}.00",
            f"TOTAL {total}",
            "CASH 100.00",
            "THANK YOU",
        ]
        rows = []
        for i, text in enumerate(lines):
            x0, y0, x1, y1 = 40, 40 + 30 * i, 40 + 12 * len(text), 60 + 30 * i
            rows.append(f"{x0},{y0},{x1},{y0},{x1},{y1},{x0},{y1},{text}\n")
        stem = f"{n:03d}"
        (folder / "sroie" / "box" / f"{stem}.csv").write_text("".join(rows))
        truth = {
            "company": name,
            "date": f"{n % 27 + 1:02d}/0{n % 9 + 1}/2018",
            "address": f"NO {n + 1}, JALAN {NAMES[(n + 3) % len(NAMES)]} {n % 5 + 1}, "
            f"{43000 + n} {town}, SELANGOR",
            "total": total,
        }
        (folder / "sroie" / "key" / f"{stem}.json").write_text(json.dumps(truth))


def run(*args: str) -> str:
    out = StringIO()
    call_command("extraction_train", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_extraction_train_is_deterministic_and_its_model_is_picked_up(tmp_path, settings):
    from extraction.training import digest

    make_training_set(tmp_path / "train")
    data = ["--data", str(tmp_path / "train"), "--no-ocr"]
    first = run(*data, "--output", str(tmp_path / "a"))
    run(*data, "--output", str(tmp_path / "b"))
    assert "training receipts: transcript 16 (8 stores)" in first
    assert "model written to" in first
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    for name in receipts.MODEL_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    # The pipeline reads EXTRACTION_MODEL_DIR when it holds a model, else the shipped one.
    settings.EXTRACTION_MODEL_DIR = str(tmp_path / "a")
    assert receipts.model_dir() == tmp_path / "a"
    page = boxed_page([(t, "l") for t in ["HARAPAN TRADING SDN BHD", "NO 3, JALAN EMAS 2,",
                       "43002 PUCHONG, SELANGOR", "DATE: 03/03/2018", "TOTAL 16.20"]])  # fmt: skip
    fields = fields_of(page)
    assert fields["date"].normalized == "2018-03-03" and fields["total"].value == "16.20"
    settings.EXTRACTION_MODEL_DIR = str(tmp_path / "missing")
    assert receipts.model_dir() == receipts.MODEL_DIR


def test_extraction_train_measures_on_stores_it_did_not_fit(tmp_path):
    make_training_set(tmp_path / "train")
    data = ["--data", str(tmp_path / "train"), "--no-ocr"]
    out = run(*data, "--cv-stores", "2")
    assert "cross-validation by store (2 folds):" in out
    assert "transcript (16): company" in out and "total as a number" in out
    out = run(*data, "--holdout-stores", "0.5")
    assert "held-out stores:" in out
    assert not (tmp_path / "a").exists()


def test_extraction_train_refuses_bad_input(tmp_path, settings):
    settings.EXTRACTION_MODEL_DIR = ""
    with pytest.raises(CommandError, match="no key/ folder"):
        run("--data", str(tmp_path))
    make_training_set(tmp_path / "train", count=4)
    with pytest.raises(CommandError, match="Set EXTRACTION_MODEL_DIR"):
        run("--data", str(tmp_path / "train"), "--no-ocr")
    with pytest.raises(CommandError, match="at least 2 folds"):
        run("--data", str(tmp_path / "train"), "--cv-stores", "1")
    with pytest.raises(CommandError, match="between 0 and 1"):
        run("--data", str(tmp_path / "train"), "--holdout-stores", "2")


@pytest.mark.django_db
def test_include_corrections_adds_the_workspaces_corrected_receipts(tmp_path, agent_a, settings):
    from django.core.files.base import ContentFile

    from extraction.models import Document, Status

    settings.MEDIA_ROOT = str(tmp_path / "media")
    make_training_set(tmp_path / "train")
    text = b"ZENITH TRADING SDN BHD\nNO 9, JALAN ZAMRUD 1,\n43100 KLANG\nDATE: 01/02/2019\n"
    for corrected in (True, False):
        document = Document(
            agent=agent_a,
            original_name="receipt.txt",
            size=len(text),
            sha256=Document.digest(text),
            media_type="text/plain",
            created_by="test",
            status=Status.SUCCEEDED,
            result={"doc_type": "receipt", "fields": [{"name": "total", "value": "8.00"}]},
            corrections={"company": "ZENITH TRADING SDN BHD"} if corrected else {},
        )
        document.file.save("upload", ContentFile(text), save=False)
        document.save()

    out = run(
        "--data", str(tmp_path / "train"), "--no-ocr", "--include-corrections",
        "--output", str(tmp_path / "model"),
    )  # fmt: skip
    assert "corrected documents: 1" in out
    assert "training receipts: correction 1, transcript 16 (9 stores)" in out
    assert (tmp_path / "model" / "lines.txt").is_file()


def test_an_evaluation_reuses_cached_ocr(tmp_path, monkeypatch):
    from PIL import Image

    from extraction import evaluation
    from extraction.pipeline import ocr

    class Counting:
        name = "counting"
        calls = 0

        def read_raw(self, image):
            Counting.calls += 1
            return [Line("ÁCME TRADING SDN BHD" + " ROTI" * 20, (1, 2, 3, 4), 0.9)]

    monkeypatch.setattr(ocr, "get_engine", lambda name=None: Counting())
    cached = evaluation.CachedOCR(tmp_path)
    image = Image.new("RGB", (20, 10), "white")
    first = cached.recognize(image)
    again = cached.recognize(image.copy())
    assert Counting.calls == 1 and len(list(tmp_path.glob("*.json"))) == 1
    # the pipeline's own tidying still runs on the cached reading
    assert first[0].text.startswith("ACME") and again[0].text == first[0].text
    assert again[0].box == (1, 2, 3, 4)


@pytest.mark.parametrize("text", ["TEL 03-12345678 12:00", "INV 12345678 10:00", "ID 25032018"])
def test_eight_digits_are_a_date_only_before_a_time_and_when_valid(text):
    from extraction.pipeline.dates import find_dates

    assert find_dates(text) == []


def test_the_pipeline_reads_its_settings_not_the_environment(settings, monkeypatch) -> None:
    from extraction.pipeline import config, entities
    from extraction.pipeline.dates import find_dates

    monkeypatch.setenv("EXTRACTION_DATE_ORDER", "MDY")  # the library ignores the environment
    assert find_dates("03/04/2024")[0].date.isoformat() == "2024-04-03"
    settings.EXTRACTION_DATE_ORDER = "MDY"
    settings.EXTRACTION_PHONE_REGIONS = ["GB", "MY"]
    assert config.current().date_order == "MDY"
    assert find_dates("03/04/2024")[0].date.isoformat() == "2024-03-04"
    assert entities.phone_regions() == ["GB", "MY"]
