"""PDF lines are rebuilt from character positions, whatever the text layer's layout."""

from __future__ import annotations

import pytest

from extraction.pipeline import extract
from extraction.synthetic import LAYOUTS, PdfPage, write_pdf
from tests.extraction.test_pipeline import make_pdf


def sample_page(sideways: bool = False) -> PdfPage:
    page = PdfPage(width=842, height=595, sideways=True) if sideways else PdfPage()
    page.add(50, 60, "Blue Harbor Design", 18)
    page.add(50, 100, "Rechnungsnr. 30064443")
    page.add(330, 100, "Datum: 12.03.2024")
    page.add(50, 130, "Total $ 279.84", 10, "F2")  # Courier: wide, fixed advance
    page.add_right(500, 160, "Gesamtbetrag 1.234,56 €")
    return page


EXPECTED = [
    "Blue Harbor Design",
    "Rechnungsnr. 30064443 Datum: 12.03.2024",
    "Total $ 279.84",
    "Gesamtbetrag 1.234,56 €",
]


def lines_of(pdf: bytes) -> list:
    return extract(pdf, "layout.pdf", doc_type="generic").pages[0].lines


@pytest.mark.parametrize("sideways", [False, True], ids=["upright", "rotated-page"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_text_layer_layout_gives_the_same_lines(layout: str, sideways: bool) -> None:
    lines = lines_of(write_pdf([sample_page(sideways)], layout))
    assert [ln.text for ln in lines] == EXPECTED
    # The columns of a row stay separate parts; a word is never split into letters.
    assert lines[1].parts == ["Rechnungsnr. 30064443", "Datum: 12.03.2024"]
    reference = lines_of(write_pdf([sample_page(sideways)], "line"))
    for line, ref in zip(lines, reference, strict=True):
        assert line.box == pytest.approx(ref.box, abs=0.5)


def test_one_object_per_glyph_is_not_letter_spaced() -> None:
    page = PdfPage()
    page.add(72, 100, "Total $ 279.84")
    page.add(72, 120, "Invoice No. INV-7")
    result = extract(write_pdf([page], "glyph"), "glyphs.pdf", doc_type="generic")
    assert [ln.text for ln in result.pages[0].lines] == ["Total $ 279.84", "Invoice No. INV-7"]


def test_boxes_are_in_displayed_points_on_a_rotated_page() -> None:
    import pypdfium2 as pdfium

    page = PdfPage(width=842, height=595, sideways=True)
    page.add(600, 500, "Amount due 12.00", 14)
    pdf = write_pdf([page], "glyph")
    result = extract(pdf, "landscape.pdf", doc_type="generic")
    assert (result.pages[0].width, result.pages[0].height) == (842, 595)
    (line,) = result.pages[0].lines
    x0, y0, x1, y1 = line.box
    assert 595 < x0 < 605 and 485 < y0 < y1 < 505 and x1 > 700
    # The box sits on the ink of the page as a viewer shows it (the preview's rendering).
    image = pdfium.PdfDocument(pdf)[0].render(scale=1).to_pil().convert("L")
    assert image.size == (842, 595)
    inside = image.crop((int(x0), int(y0), int(x1) + 1, int(y1) + 1))
    outside = image.crop((int(x0), int(y1) + 5, int(x1) + 1, int(y1) + 25))
    assert inside.getextrema()[0] < 100 and outside.getextrema()[0] > 200


def test_ligatures_are_spelled_out() -> None:
    page = PdfPage()
    page.add(72, 100, "Ofﬁce ﬂoor")
    for layout in ("line", "glyph"):
        assert [ln.text for ln in lines_of(write_pdf([page], layout))] == ["Office floor"]


def test_text_running_up_the_margin_is_its_own_line() -> None:
    pdf = make_pdf(
        [
            [
                b"1 0 0 1 72 700 Tm (Invoice 42) Tj",
                b"0 1 -1 0 30 300 Tm (Printed sideways) Tj",
            ]
        ]
    )
    lines = lines_of(pdf)
    assert [ln.text for ln in lines] == ["Invoice 42", "Printed sideways"]
    _, y0, x1, y1 = lines[1].box
    assert x1 < 36 and y1 - y0 > 80  # tall and thin, up the left margin


def test_text_drawn_twice_for_a_bold_effect_counts_once() -> None:
    pdf = make_pdf([[b"1 0 0 1 72 700 Tm (Total 5.00) Tj 1 0 0 1 72.3 700 Tm (Total 5.00) Tj"]])
    assert [ln.text for ln in lines_of(pdf)] == ["Total 5.00"]
