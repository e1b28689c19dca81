"""Plain dataclasses describing limits, pages, fields and the extraction result."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import Timeout


@dataclass(frozen=True)
class Limits:
    """Resource limits for one extraction job.

    ``max_pixels`` bounds every decoded image and every rendered PDF page (the
    decompression-bomb guard); ``timeout_seconds`` is checked between stages and
    pages (cooperative: a single OCR call is not interrupted).
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pages: int = 200
    max_pixels: int = 40_000_000
    timeout_seconds: float = 120.0
    ocr_dpi: int = 200  # rendering resolution for scanned PDF pages
    ocr_pdf_images: int = 3  # pictures per document OCR'd on text-layer PDF pages (logos); 0 = off

    @classmethod
    def from_mapping(cls, values: dict | None) -> Limits:
        """Build limits from a dict (e.g. a Django setting), ignoring unknown keys."""
        values = values or {}
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__ and v is not None}
        return cls(**known)


class Deadline:
    """A monotonic deadline; ``check()`` raises Timeout once it has passed."""

    def __init__(self, seconds: float | None):
        self.start = time.monotonic()
        self.seconds = seconds
        self.at = None if not seconds or seconds <= 0 else self.start + seconds

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    def check(self, stage: str = "") -> None:
        if self.at is not None and time.monotonic() > self.at:
            where = f" during {stage}" if stage else ""
            raise Timeout(f"Extraction exceeded its time limit of {self.seconds:g} s{where}.")


@dataclass
class Line:
    """One line of text on a page with its box in page pixels/points (top-left origin)."""

    text: str
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1
    score: float = 1.0
    parts: list[str] | None = None  # the OCR/text segments merged into this row, left to right
    part_boxes: list[tuple[float, float, float, float]] | None = None


@dataclass
class Page:
    number: int
    text: str
    width: float | None
    height: float | None
    method: str  # "text-layer" | "ocr"
    lines: list[Line] = field(default_factory=list)
    # Text read by OCR from pictures embedded in a text-layer page (logos, scanned
    # letterheads).  Used for fields; not part of ``text``.
    image_lines: list[Line] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "text": self.text,
            "width": self.width,
            "height": self.height,
            "method": self.method,
        }


@dataclass
class Source:
    page: int | None = None
    box: list[float] | None = None
    text: str = ""


@dataclass
class Field:
    name: str
    value: Any
    normalized: Any = None
    confidence: float = 0.0
    source: Source = field(default_factory=Source)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ExtractionResult:
    media_type: str
    doc_type: str
    pages: list[Page] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    entities: dict[str, list] = field(
        default_factory=lambda: {"emails": [], "phones": [], "dates": [], "amounts": [], "urls": []}
    )
    key_values: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def value(self, name: str, default: Any = None) -> Any:
        f = self.field(name)
        return default if f is None else f.value

    @property
    def text(self) -> str:
        return "\n\f".join(p.text for p in self.pages)

    def to_dict(self) -> dict:
        return {
            "media_type": self.media_type,
            "doc_type": self.doc_type,
            "pages": [p.to_dict() for p in self.pages],
            "fields": [f.to_dict() for f in self.fields],
            "entities": self.entities,
            "key_values": self.key_values,
            "warnings": list(self.warnings),
            "timings": self.timings,
        }
