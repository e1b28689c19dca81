"""Made-up documents for tests and measurements: a tiny PDF writer whose text layer can be
laid out the way different generators do it, and invoices built with it.

Text-layer layouts (``Layout``):

- ``line``: one text object per line, spaces as characters (office suites);
- ``word``: one text object per word, placed absolutely (some report generators);
- ``glyph``: one text object per glyph (wkhtmltopdf, PyPDF2 merges);
- ``glyph-reversed``: one per glyph, each line's glyphs written right to left;
- ``kerned``: one TJ per line, word spaces as position adjustments (TeX, some printers).

Any layout can be drawn on a page stored sideways (``/Rotate 90``) so that it displays
upright, as scanners and landscape templates write them.

    python -m extraction.synthetic OUT_DIR [--count 40] [--seed 7]

writes ``OUT_DIR/NNN.pdf`` and ``NNN.json`` (issuer, amount, date, invoice_number,
currency) that ``manage.py extraction_eval OUT_DIR`` scores like real invoices.
Nothing here is read by the pipeline; nothing in the pipeline is fitted on it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Literal

Layout = Literal["line", "word", "glyph", "glyph-reversed", "kerned"]
LAYOUTS: tuple[Layout, ...] = ("line", "word", "glyph", "glyph-reversed", "kerned")

# Advance widths (1/1000 em) of the standard Helvetica font, from its AFM file; accented
# letters take their base letter's width.  Courier is 600 throughout.
_ASCII = "".join(chr(c) for c in range(32, 127))
_HELVETICA_WIDTHS = (
    [278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278]
    + [556] * 10
    + [278, 278, 584, 584, 584, 556, 1015]
    + [667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833]
    + [722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611]
    + [278, 278, 278, 469, 556, 333]
    + [556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833]
    + [556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500]
    + [334, 260, 334, 584]
)
HELVETICA = dict(zip(_ASCII, _HELVETICA_WIDTHS, strict=True)) | {
    "ß": 611,
    "°": 400,
    "º": 365,
    "€": 556,
    "£": 556,
    "·": 278,
    "ﬁ": 500,
    "ﬂ": 500,
}
FONTS = {"F1": "Helvetica", "F2": "Courier"}


def advance(char: str, font: str = "F1") -> int:
    if font == "F2":
        return 600
    if char in HELVETICA:
        return HELVETICA[char]
    import unicodedata

    base = unicodedata.normalize("NFD", char)[:1]
    return HELVETICA.get(base, 556)


def text_width(text: str, size: float, font: str = "F1") -> float:
    return sum(advance(c, font) for c in text) * size / 1000


@dataclass
class Text:
    """One line of text; ``x``/``y`` are its baseline start on the page as displayed
    (points, top-left origin)."""

    x: float
    y: float
    text: str
    size: float = 10.0
    font: str = "F1"


@dataclass
class PdfPage:
    width: float = 595.0  # as displayed
    height: float = 842.0
    sideways: bool = False  # stored as a portrait page with /Rotate 90
    texts: list[Text] = field(default_factory=list)

    def add(self, x: float, y: float, text: str, size: float = 10.0, font: str = "F1") -> None:
        self.texts.append(Text(x, y, text, size, font))

    def add_right(
        self, right: float, y: float, text: str, size: float = 10.0, font: str = "F1"
    ) -> None:
        self.add(right - text_width(text, size, font), y, text, size, font)


# Ligature glyphs sit on two codes WinAnsi leaves unused (see the font's /Differences).
LIGATURE_CODES = {"ﬁ": b"\x81", "ﬂ": b"\x8d"}


def _encode(text: str) -> bytes:
    return b"".join(LIGATURE_CODES.get(c) or c.encode("cp1252", errors="replace") for c in text)


def _literal(text: str) -> bytes:
    raw = _encode(text)
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _matrix(page: PdfPage, x: float, y: float) -> bytes:
    """Text matrix drawing upright (as displayed) text with its baseline at (x, y)."""
    if page.sideways:  # user space is the displayed page turned a quarter back
        return b"0 1 -1 0 %.3f %.3f Tm" % (y, x)
    return b"1 0 0 1 %.3f %.3f Tm" % (x, page.height - y)


def _content(page: PdfPage, layout: Layout) -> bytes:
    ops: list[bytes] = []
    for item in page.texts:
        font = b"/%s %.2f Tf " % (item.font.encode(), item.size)
        if layout == "line":
            place = _matrix(page, item.x, item.y)
            ops.append(b"BT " + font + place + b" " + _literal(item.text) + b" Tj ET")
        elif layout == "kerned":
            words = item.text.split(" ")
            space = advance(" ", item.font)
            parts = b" ".join(_literal(w) + b" %d" % -space for w in words[:-1])
            ops.append(
                b"BT "
                + font
                + _matrix(page, item.x, item.y)
                + b" ["
                + parts
                + (b" " if parts else b"")
                + _literal(words[-1])
                + b"] TJ ET"
            )
        else:
            pieces: list[tuple[float, str]] = []
            x = item.x
            if layout == "word":
                for word in item.text.split(" "):
                    if word:
                        pieces.append((x, word))
                    x += text_width(word + " ", item.size, item.font)
            else:
                for char in item.text:
                    if char != " ":
                        pieces.append((x, char))
                    x += text_width(char, item.size, item.font)
                if layout == "glyph-reversed":
                    pieces.reverse()
            for px, piece in pieces:
                ops.append(
                    b"BT " + font + _matrix(page, px, item.y) + b" " + _literal(piece) + b" Tj ET"
                )
    return b"\n".join(ops)


def write_pdf(pages: list[PdfPage], layout: Layout = "line") -> bytes:
    """A PDF of ``pages`` whose text layer is laid out as ``layout``."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    fonts = {
        name: add(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding << /Type /Encoding "
            b"/BaseEncoding /WinAnsiEncoding /Differences [129 /fi 141 /fl] >> >>" % base.encode()
        )
        for name, base in FONTS.items()
    }
    resources = b"<< /Font << %s >> >>" % b" ".join(
        b"/%s %d 0 R" % (name.encode(), ref) for name, ref in fonts.items()
    )
    pages_id = len(objects) + 1 + 2 * len(pages)
    kids = []
    for page in pages:
        stream = _content(page, layout)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        w, h = (page.height, page.width) if page.sideways else (page.width, page.height)
        rotate = b" /Rotate 90" if page.sideways else b""
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f]%s /Contents %d 0 R "
                b"/Resources %s >>" % (pages_id, w, h, rotate, content, resources)
            )
        )
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))) == pages_id
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
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
        b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, catalog, xref)
    )
    return out.getvalue()
