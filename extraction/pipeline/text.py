"""Turn the bytes of a supported document into pages of text with line boxes.

PDF: pypdfium2 text layer; pages without a text layer are rendered and OCR'd.
Images (PNG/JPEG/TIFF/WebP, multi-frame TIFF as pages): OCR.
DOCX: python-docx paragraphs and tables in body order (one page).
TXT/CSV: decoded text (form feeds split TXT pages; CSV rows become tab-separated lines).

Coordinates: PDF pages use PDF points with a top-left origin; images and OCR'd
images use pixels.  ``Page.width``/``height`` are in the same unit as the boxes.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import warnings
from dataclasses import replace

from PIL import Image, ImageOps, UnidentifiedImageError

from . import sniff as st
from .errors import Corrupt, DecompressionBomb, Empty, Encrypted, ExtractionError, TooManyPages
from .ocr import get_engine, group_rows
from .pdflines import pdf_lines
from .result import Deadline, Limits, Line, Page

# pdfium is not thread-safe; serialise every call into it within this process.
PDFIUM_LOCK = threading.RLock()

MIN_TEXT_LAYER_CHARS = 16  # fewer characters than this on a page with images → OCR it


def load_pages(
    data: bytes,
    media_type: str,
    limits: Limits,
    deadline: Deadline,
    warnings_out: list[str],
    ocr_engine: str | None = None,
) -> list[Page]:
    if media_type == st.PDF:
        return pdf_pages(data, limits, deadline, warnings_out, ocr_engine)
    if media_type in st.IMAGE_TYPES:
        return image_pages(data, limits, deadline, warnings_out, ocr_engine)
    if media_type == st.DOCX:
        return docx_pages(data, limits)
    if media_type == st.CSV:
        return csv_pages(data)
    if media_type == st.TXT:
        return txt_pages(data, limits)
    raise ExtractionError(f"No loader for {media_type}.")


# ---------------------------------------------------------------------------- OCR helpers


def ocr_image(image: Image.Image, deadline: Deadline, ocr_engine: str | None = None) -> list[Line]:
    engine = get_engine(ocr_engine)
    # Very wide or tall strips (letterheads, logos) are padded towards 3:1: the text
    # detector scales the short side up to a fixed size, so a 5:1 strip would become a
    # huge input (memory and time) for no gain.
    w, h = image.size
    if max(w, h) > 3 * min(w, h):
        padded = Image.new(
            image.mode, (max(w, h // 3), max(h, w // 3)), "white" if image.mode != "L" else 255
        )
        padded.paste(image, (0, 0))
        image = padded
    segments = engine.recognize(image, timeout=deadline.remaining())
    deadline.check("OCR")
    return group_rows(segments)


def _page_from_lines(number: int, lines: list[Line], width, height, method: str) -> Page:
    return Page(
        number=number,
        text="\n".join(ln.text for ln in lines),
        width=width,
        height=height,
        method=method,
        lines=lines,
    )


# ---------------------------------------------------------------------------- images


def _check_pixels(size: tuple[int, int], limits: Limits, what: str = "image") -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise Corrupt(f"The {what} has no pixels.")
    if w * h > limits.max_pixels:
        raise DecompressionBomb(
            f"The {what} is {w}x{h} = {w * h} pixels, more than the limit of {limits.max_pixels}."
        )


def open_image(data: bytes, limits: Limits) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            _check_pixels(im.size, limits)
            return im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBomb(f"The image is too large to decode safely: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise Corrupt("The image cannot be decoded.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise Corrupt.because("The image is damaged", exc) from exc


def image_pages(
    data: bytes,
    limits: Limits,
    deadline: Deadline,
    warnings_out: list[str],
    ocr_engine: str | None = None,
) -> list[Page]:
    im = open_image(data, limits)
    n_frames = getattr(im, "n_frames", 1) or 1
    if n_frames > limits.max_pages:
        raise TooManyPages(
            f"The image has {n_frames} frames, more than the limit of {limits.max_pages}."
        )
    pages = []
    for index in range(n_frames):
        deadline.check("image decoding")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                if n_frames > 1:
                    im.seek(index)
                _check_pixels(im.size, limits, "image frame")
                frame = im.copy() if n_frames > 1 else im
                frame.load()
                frame = ImageOps.exif_transpose(frame)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DecompressionBomb(f"The image is too large to decode safely: {exc}") from exc
        except ExtractionError:
            raise
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise Corrupt.because("The image is damaged", exc) from exc
        if frame.mode not in ("RGB", "L"):
            frame = frame.convert("RGB")
        lines = ocr_image(frame, deadline, ocr_engine)
        pages.append(_page_from_lines(index + 1, lines, frame.width, frame.height, "ocr"))
    return pages


# ---------------------------------------------------------------------------- PDF


def _open_pdf(data: bytes):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code in (pdfium.raw.FPDF_ERR_PASSWORD, pdfium.raw.FPDF_ERR_SECURITY):
            raise Encrypted("The PDF is password protected.") from exc
        raise Corrupt.because("The PDF is damaged and cannot be opened", exc) from exc


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufeff]")
_LIGATURES = str.maketrans(
    {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "ft", "ﬆ": "st"}
)
PARAGRAPH_GAP = 1.4  # a line pitch this many times the usual one starts a new paragraph


def _soft_hyphen(m: re.Match) -> str:
    # pdfium marks a word hyphenated at a line end with U+FFFE and joins the lines:
    # keep the word whole on the first line; keep a real hyphen before a capital
    # ("Schwarz-Weiß"), drop it otherwise ("Vorausset-zung").
    rest = m.group(1)
    return ("-" if rest[:1].isupper() else "") + rest + "\n"


SCRIPT_MAX_GAP = 0.6  # in character heights; more is a separate column, not a script


def _same_visual_line(textpage, last: int, first: int) -> float | None:
    """Where pdfium broke a line only because the baseline moved (a superscript or a
    subscript: "R\n2", "f\n-1\n(U)"), return the horizontal gap between the two
    characters in units of their height; ``None`` for a real line break."""
    try:
        _, pb, pr, pt = textpage.get_charbox(last, loose=True)
        nl, nb, _, nt = textpage.get_charbox(first, loose=True)
    except Exception:  # a generated char without a box: keep pdfium's break
        return None
    height = max(pt - pb, nt - nb, 1e-3)
    overlap = min(pt, nt) - max(pb, nb)
    gap = (nl - pr) / height
    if overlap > 0.2 * min(pt - pb, nt - nb) and -0.1 <= gap <= SCRIPT_MAX_GAP:
        return gap
    return None


def _visual_lines(textpage) -> list[tuple[str, int]]:
    """pdfium's lines, re-joined where only a raised or lowered script split them,
    each with the char index of its first character."""
    out: list[tuple[str, int]] = []
    index = 0
    for line in textpage.get_text_range().split("\r\n"):
        gap = None
        if out and out[-1][0] and line:
            gap = _same_visual_line(textpage, index - 3, index)
        if gap is None:
            out.append((line, index))
        else:
            joiner = " " if gap > 0.25 and not out[-1][0].endswith(" ") else ""
            out[-1] = (out[-1][0] + joiner + line, out[-1][1])
        index += len(line) + 2
    return out


def pdf_page_text(textpage) -> str:
    """Page text in reading order, scripts kept on their line, a blank line between
    paragraphs."""
    visual = _visual_lines(textpage)
    lines = [line for line, _ in visual]
    tops: list[float | None] = []
    for line, index in visual:
        top = None
        stripped = len(line) - len(line.lstrip())
        if stripped < len(line):
            try:
                top = textpage.get_charbox(index + stripped, loose=True)[3]
            except Exception:  # a char without a box: no paragraph information
                top = None
        tops.append(top)
    known = [t for t in tops if t is not None]
    steps = sorted(known[i - 1] - known[i] for i in range(1, len(known)) if known[i - 1] > known[i])
    pitch = steps[len(steps) // 2] if steps else None
    out: list[str] = []
    prev = None
    for line, top in zip(lines, tops, strict=True):
        if pitch and top is not None and prev is not None and prev - top > PARAGRAPH_GAP * pitch:
            out.append("")
        out.append(line.rstrip(" "))
        if top is not None:
            prev = top
    text = "\n".join(out).replace("\r", "\n")
    text = re.sub("\ufffe(\\S*) ?", _soft_hyphen, text)
    text = _CONTROL.sub("", text.translate(_LIGATURES))
    return text


def _page_has_images(page) -> bool:
    import pypdfium2 as pdfium

    for _ in page.get_objects(filter=[pdfium.raw.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        return True
    return False


def _ocr_page_pictures(page, width, height, budget, limits, deadline, ocr_engine):
    """OCR the larger pictures (logos, letterheads) of a text-layer page."""
    import pypdfium2 as pdfium

    boxes = []
    for obj in page.get_objects(filter=[pdfium.raw.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = obj.get_bounds()
        left, bottom = max(0.0, left), max(0.0, bottom)
        right, top = min(width, right), min(height, top)
        area = max(0.0, right - left) * max(0.0, top - bottom)
        if 0.008 * width * height <= area <= 0.6 * width * height:
            boxes.append((area, left, bottom, right, top))
    boxes.sort(reverse=True)
    out: list[Line] = []
    used = 0
    for _, left, bottom, right, top in boxes[:budget]:
        deadline.check("OCR of pictures")
        scale = 3.0
        px = (right - left) * (top - bottom) * scale * scale
        if px > limits.max_pixels:
            scale = (limits.max_pixels / ((right - left) * (top - bottom))) ** 0.5
        try:
            image = page.render(
                scale=scale, crop=(left, bottom, width - right, height - top)
            ).to_pil()
        except Exception:  # a picture that cannot be rendered is simply skipped
            continue
        used += 1
        for ln in ocr_image(image, deadline, ocr_engine):
            x0, y0, x1, y1 = ln.box
            out.append(
                replace(
                    ln,
                    box=(
                        left + x0 / scale,
                        (height - top) + y0 / scale,
                        left + x1 / scale,
                        (height - top) + y1 / scale,
                    ),
                    part_boxes=None,
                )
            )
    return out, used


def pdf_pages(
    data: bytes,
    limits: Limits,
    deadline: Deadline,
    warnings_out: list[str],
    ocr_engine: str | None = None,
) -> list[Page]:
    with PDFIUM_LOCK:
        pdf = _open_pdf(data)
        try:
            n = len(pdf)
            if n == 0:
                raise Empty("The PDF has no pages.")
            if n > limits.max_pages:
                raise TooManyPages(
                    f"The PDF has {n} pages, more than the limit of {limits.max_pages}."
                )
            pages = []
            # Pictures are OCR'd only in short documents (letterheads, logos of invoices).
            image_budget = limits.ocr_pdf_images if n <= 5 else 0
            for index in range(n):
                deadline.check("PDF text extraction")
                try:
                    page = pdf[index]
                    width, height = page.get_size()
                    textpage = page.get_textpage()
                    text = pdf_page_text(textpage)
                except ExtractionError:
                    raise
                except Exception as exc:  # pdfium raises plain errors on broken pages
                    raise Corrupt(f"Page {index + 1} of the PDF cannot be read ({exc}).") from exc
                if len(text.strip()) >= MIN_TEXT_LAYER_CHARS or not _page_has_images(page):
                    lines = pdf_lines(page, textpage)
                    pg = Page(
                        number=index + 1,
                        text=text.strip("\n"),
                        width=width,
                        height=height,
                        method="text-layer",
                        lines=lines,
                    )
                    if image_budget > 0:
                        pg.image_lines, used = _ocr_page_pictures(
                            page, width, height, image_budget, limits, deadline, ocr_engine
                        )
                        image_budget -= used
                    pages.append(pg)
                else:
                    scale = limits.ocr_dpi / 72.0
                    px = width * height * scale * scale
                    if px > limits.max_pixels:
                        scale = (limits.max_pixels / (width * height)) ** 0.5
                        warnings_out.append(
                            f"Page {index + 1} rendered at reduced resolution "
                            "to stay under max_pixels."
                        )
                    image = page.render(scale=scale).to_pil()
                    textpage.close()
                    page.close()
                    # OCR outside the pdfium calls would be nicer, but the lock is re-entrant and
                    # OCR does not touch pdfium; keep it simple and sequential.
                    lines = ocr_image(image, deadline, ocr_engine)
                    lines = [
                        replace(ln, box=tuple(v / scale for v in ln.box) if ln.box else None)
                        for ln in lines
                    ]
                    pages.append(_page_from_lines(index + 1, lines, width, height, "ocr"))
            return pages
        finally:
            pdf.close()


# ---------------------------------------------------------------------------- DOCX


def render_pdf_page(data: bytes, number: int, limits: Limits, scale: float = 1.5) -> bytes | None:
    """Page `number` (1-based) of a PDF as a PNG, or None when there is no such page: the
    Documents page's preview, under the same lock as every other call into pdfium and
    within the same pixel limit as the pages it OCRs."""
    with PDFIUM_LOCK:
        pdf = _open_pdf(data)
        try:
            if not 1 <= number <= len(pdf):
                return None
            page = pdf[number - 1]
            width, height = page.get_size()
            if width * height * scale * scale > limits.max_pixels:
                scale = (limits.max_pixels / (width * height)) ** 0.5
            image = page.render(scale=scale).to_pil()
        except ExtractionError:
            raise
        except Exception as exc:  # pdfium raises plain errors on broken pages
            raise Corrupt(f"Page {number} of the PDF cannot be read ({exc}).") from exc
        finally:
            pdf.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def docx_pages(data: bytes, limits: Limits) -> list[Page]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError/ValueError/lxml errors on bad parts
        raise Corrupt.because("The DOCX file is damaged", exc) from exc
    lines: list[Line] = []
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            text = Paragraph(child, document).text.strip()
            if text:
                lines.append(Line(text=text))
        elif tag == "tbl":
            for row in Table(child, document).rows:
                cells = []
                for cell in row.cells:
                    t = " ".join(cell.text.split())
                    if not cells or cells[-1] != t:  # merged cells repeat their text
                        cells.append(t)
                if any(cells):
                    lines.append(Line(text="\t".join(cells)))
    return [_page_from_lines(1, lines, None, None, "text-layer")]


# ---------------------------------------------------------------------------- TXT / CSV


def txt_pages(data: bytes, limits: Limits) -> list[Page]:
    text = st.decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise Empty("The text file contains only whitespace.")
    chunks = text.split("\f")
    if len(chunks) > limits.max_pages:
        raise TooManyPages(
            f"The text has {len(chunks)} pages, more than the limit of {limits.max_pages}."
        )
    pages = []
    for i, chunk in enumerate(chunks):
        lines = [Line(text=ln.strip()) for ln in chunk.split("\n") if ln.strip()]
        pages.append(
            Page(
                number=i + 1,
                text=chunk.strip("\n"),
                width=None,
                height=None,
                method="text-layer",
                lines=lines,
            )
        )
    return pages


def csv_pages(data: bytes) -> list[Page]:
    text = st.decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise Empty("The CSV file contains only whitespace.")
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise Corrupt(f"The CSV file cannot be parsed ({exc}).") from exc
    lines = [
        Line(text="\t".join(c.strip() for c in row)) for row in rows if any(c.strip() for c in row)
    ]
    return [_page_from_lines(1, lines, None, None, "text-layer")]
