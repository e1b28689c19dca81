"""OCR engines behind one small interface, plus grouping of text boxes into lines.

Default engine: ``rapidocr`` (PP-OCR ONNX models shipped inside its wheel, run by
onnxruntime; nothing is downloaded at run time).  Fallback: Debian's
``tesseract`` binary (``apt-get install tesseract-ocr``), used when rapidocr is
not importable or when ``EXTRACTION_OCR_ENGINE=tesseract``.

Environment:
  EXTRACTION_OCR_ENGINE   rapidocr | tesseract   (default: rapidocr, falling back to tesseract)
  EXTRACTION_OCR_THREADS  onnxruntime intra-op threads (default: onnxruntime's choice)
  EXTRACTION_OCR_MAX_SIDE longest image side the engine works on (rapidocr default 2000)
  EXTRACTION_OCR_DETECT_SIDE longest side of the detector's input (0: rapidocr's own)
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import threading
import unicodedata
from dataclasses import replace
from typing import Protocol

from PIL import Image

from . import config
from .errors import OCRUnavailable, Timeout
from .result import Line


class OCREngine(Protocol):
    name: str

    def recognize(self, image: Image.Image, timeout: float | None = None) -> list[Line]:
        """Return text segments with boxes in image pixels (top-left origin)."""


REC_MIN_WIDTH = 96  # narrowest input of the recogniser, in pixels (rapidocr's own: 320)


class RapidOCREngine:
    name = "rapidocr"

    def __init__(self, threads: int | None = None):
        # Imported lazily: onnxruntime + models cost ~100 MB RSS and are only
        # needed for scanned documents.
        from rapidocr import RapidOCR

        params: dict = {
            "Global.log_level": "error",
            # Turn a text line over only when the orientation model is nearly sure: at
            # its default (0.9) it flips some upright receipt lines into nonsense, while
            # lines of an upside-down photo still score above 0.99 (measured on SROIE).
            "Cls.cls_thresh": 0.99,
            # The recogniser reads a batch of lines (48 pixels high) padded to the widest;
            # rapidocr pads every batch to at least 320 pixels, PaddleOCR's training width,
            # which made the lines it read 1.9 times as wide as they are on receipts. At 96
            # they are 1.18 times as wide and the recogniser takes about a fifth less time,
            # with the same field accuracy on unseen training stores (README, "Speed of
            # reading").
            "Rec.rec_img_shape": [3, 48, REC_MIN_WIDTH],
        }
        max_side = config.current().ocr_max_side
        if max_side:  # smaller = less memory and time on large scans, at some accuracy cost
            params["Global.max_side_len"] = max_side
        if threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = int(threads)
        self._engine = RapidOCR(params=params)
        self._lock = threading.Lock()
        self._prepare_detector_input(config.current().ocr_detect_side)
        self._line_turns: list[bool] = []
        self._count_line_turns(params["Cls.cls_thresh"])

    def _prepare_detector_input(self, longest: int | None) -> None:
        """Normalise the detector's input by table and, when ``longest`` is set, search a
        large page for text on a smaller copy of it.

        rapidocr normalises the page in float64 (0.049 s a receipt with the resize); a table
        of the 256 values it computes gives the same float32 input, bit for bit (0.016 s).
        Only the detector sees the smaller copy: each line it finds is still cut out of the
        full picture for the recogniser, so reading keeps every pixel. rapidocr scales the
        detector's input up to a short side of 736 but never down, so a 940 x 1450 receipt
        is searched at full size; capped, its longest side is ``longest`` and its short side
        stays at least 736 (the text is not shrunk below what rapidocr searches at).
        """
        import cv2
        import numpy as np
        from rapidocr.ch_ppocr_det.utils import DetPreProcess

        detector = self._engine._load_det_model()
        if detector.limit_type != "min":  # the rules below are rapidocr's "min" rules
            return

        class DetectorInput(DetPreProcess):
            def __init__(self, *args) -> None:
                super().__init__(*args)
                # rapidocr's own arithmetic on every possible byte, one table per channel
                levels = np.arange(256, dtype=np.uint8).reshape(256, 1)
                self.table = np.ascontiguousarray(
                    DetPreProcess.normalize(self, levels).astype(np.float32).T
                )

            def resize(self, img):
                h, w = img.shape[:2]
                ratio = min(1.0, longest / max(h, w)) if longest else 1.0
                ratio = max(ratio, self.limit_side_len / min(h, w))
                # rounded to multiples of 32 as rapidocr does
                size = (round(int(w * ratio) / 32) * 32, round(int(h * ratio) / 32) * 32)
                return cv2.resize(img, size) if min(size) > 0 else None

            def __call__(self, img):
                img = self.resize(img)
                if img is None:
                    return None
                planes = [self.table[c][img[:, :, c]] for c in range(img.shape[2])]
                return np.stack(planes)[np.newaxis]

        prepared = DetectorInput(
            detector.limit_side_len, detector.limit_type, detector.mean, detector.std
        )
        detector.get_preprocess = lambda: prepared

    def _count_line_turns(self, threshold: float) -> None:
        """Record, for each text line, whether the orientation model turned it over.

        rapidocr reads upside-down lines correctly but does not say it turned them;
        when most lines of a page were turned, the page itself is upside down and its
        reading order (and every box) must be turned too, or a receipt's name comes last.
        """
        classify = self._engine.cls_and_rotate

        def cls_and_rotate(images):
            turned, result = classify(images)
            self._line_turns = [
                "180" in label and score > threshold for label, score in result.cls_res
            ]
            return turned, result

        self._engine.cls_and_rotate = cls_and_rotate

    def recognize(self, image: Image.Image, timeout: float | None = None) -> list[Line]:
        return tidy_reading(self.read_raw(image))

    def read_raw(self, image: Image.Image) -> list[Line]:
        """The recogniser's segments as it returns them (before :func:`tidy_reading`)."""
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        with self._lock:  # the onnxruntime sessions are shared; keep one call at a time
            self._line_turns = []
            out = self._engine(image)
            upside_down = sum(self._line_turns) > len(self._line_turns) / 2
        lines: list[Line] = []
        if out is None or out.txts is None or out.boxes is None:
            return lines
        width, height = image.size
        for box, text, score in zip(out.boxes, out.txts, out.scores, strict=False):
            xs = [float(p[0]) for p in box]
            ys = [float(p[1]) for p in box]
            if upside_down:  # boxes as on the page turned the right way up
                xs = [width - x for x in xs]
                ys = [height - y for y in ys]
            text = str(text).strip()
            if text:
                lines.append(
                    Line(text=text, box=(min(xs), min(ys), max(xs), max(ys)), score=float(score))
                )
        return lines


class TesseractEngine:
    name = "tesseract"

    def __init__(self, binary: str | None = None, lang: str = "eng", psm: int = 6):
        self.binary = binary or shutil.which("tesseract")
        if not self.binary:
            raise OCRUnavailable(
                "The tesseract binary is not installed (apt-get install tesseract-ocr)."
            )
        self.lang = lang
        self.psm = psm

    def recognize(self, image: Image.Image, timeout: float | None = None) -> list[Line]:
        buf = io.BytesIO()
        image.convert("RGB" if image.mode not in ("L", "1") else image.mode).save(buf, format="PNG")
        try:
            proc = subprocess.run(
                [self.binary, "stdin", "stdout", "-l", self.lang, "--psm", str(self.psm), "tsv"],
                input=buf.getvalue(),
                capture_output=True,
                timeout=timeout if timeout and timeout > 0 else None,
                env={**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")},
            )
        except subprocess.TimeoutExpired as exc:
            raise Timeout("OCR exceeded the time limit.") from exc
        rows = csv.DictReader(
            io.StringIO(proc.stdout.decode("utf-8", "replace")),
            delimiter="\t",
            quoting=csv.QUOTE_NONE,
        )
        groups: dict[tuple, list[dict]] = {}
        for row in rows:
            if row.get("level") != "5" or not (row.get("text") or "").strip():
                continue
            key = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
            groups.setdefault(key, []).append(row)
        lines = []
        for words in groups.values():
            x0 = min(int(w["left"]) for w in words)
            y0 = min(int(w["top"]) for w in words)
            x1 = max(int(w["left"]) + int(w["width"]) for w in words)
            y1 = max(int(w["top"]) + int(w["height"]) for w in words)
            conf = [float(w["conf"]) for w in words if float(w["conf"]) >= 0]
            text = " ".join(w["text"].strip() for w in words)
            lines.append(
                Line(
                    text=text,
                    box=(x0, y0, x1, y1),
                    score=(sum(conf) / len(conf) / 100) if conf else 0.0,
                )
            )
        return lines


# A page whose letters are at most this share accented is taken to be written without
# accents: the multilingual recogniser puts marks on plain capitals ("ÁLAM", "AÉON").
ACCENTED_SHARE = 0.02


def _without_marks(text: str) -> str:
    """Latin letters without their combining marks; other scripts untouched."""
    out = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch) and out and out[-1].isascii():
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def tidy_reading(segments: list[Line]) -> list[Line]:
    """Strip accents the recogniser added to a page written in plain ASCII letters."""
    letters = [c for s in segments for c in s.text if c.isalpha()]
    accented = sum(not c.isascii() and _without_marks(c).isascii() for c in letters)
    if not letters or accented == 0 or accented > ACCENTED_SHARE * len(letters):
        return segments
    return [replace(s, text=_without_marks(s.text)) for s in segments]


_engines: dict[str, OCREngine] = {}
_engines_lock = threading.Lock()


def get_engine(name: str | None = None) -> OCREngine:
    """Return a cached OCR engine (``rapidocr`` by default, ``tesseract`` as fallback)."""
    name = (name or config.current().ocr_engine).lower()
    with _engines_lock:
        if name in _engines:
            return _engines[name]
        engine: OCREngine
        if name in ("auto", "rapidocr"):
            try:
                engine = RapidOCREngine(threads=config.current().ocr_threads)
            except ImportError as exc:
                if name == "rapidocr":
                    raise OCRUnavailable("The rapidocr package is not installed.") from exc
                engine = TesseractEngine()
        elif name == "tesseract":
            engine = TesseractEngine()
        else:
            raise OCRUnavailable(f"Unknown OCR engine {name!r}.")
        _engines[name] = engine
        return engine


def group_rows(segments: list[Line]) -> list[Line]:
    """Merge text segments that sit on the same visual row, in reading order.

    Segments are sorted by vertical centre; a segment joins a row when it
    overlaps the row vertically by at least half of the smaller height and does
    not overlap any segment already in it horizontally.
    """
    boxed = [s for s in segments if s.box is not None]
    boxed.sort(key=lambda s: ((s.box[1] + s.box[3]) / 2, s.box[0]))
    rows: list[list[Line]] = []
    stats: list[list[float]] = []  # per row: sum of y0, sum of y1, count
    for seg in boxed:
        x0, y0, x1, y1 = seg.box
        h = max(1.0, y1 - y0)
        best = None
        best_overlap = 0.0
        for k in range(max(0, len(rows) - 6), len(rows)):  # only recent rows can overlap
            row, (sy0, sy1, n) = rows[k], stats[k]
            ry0, ry1 = sy0 / n, sy1 / n
            overlap = min(y1, ry1) - max(y0, ry0)
            if overlap <= 0.5 * min(h, max(1.0, ry1 - ry0)):
                continue
            if any(
                min(x1, s.box[2]) - max(x0, s.box[0]) > 0.3 * min(x1 - x0, s.box[2] - s.box[0])
                for s in row
            ):
                continue
            if overlap > best_overlap:
                best, best_overlap = k, overlap
        if best is None:
            rows.append([seg])
            stats.append([y0, y1, 1])
        else:
            rows[best].append(seg)
            st = stats[best]
            st[0] += y0
            st[1] += y1
            st[2] += 1
    out = []
    for row in rows:
        row.sort(key=lambda s: s.box[0])
        out.append(
            Line(
                text=" ".join(s.text for s in row),
                box=(
                    min(s.box[0] for s in row),
                    min(s.box[1] for s in row),
                    max(s.box[2] for s in row),
                    max(s.box[3] for s in row),
                ),
                score=sum(s.score for s in row) / len(row),
                parts=[s.text for s in row],
                part_boxes=[s.box for s in row],
            )
        )
    out.sort(key=lambda ln: (ln.box[1] + ln.box[3]) / 2)
    return out + [s for s in segments if s.box is None]
