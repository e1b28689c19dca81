"""Offline document extraction: plain Python, no Django.

from extraction.pipeline import extract, Limits, ExtractionError, UnsupportedType
result = extract(data, "receipt.jpg", doc_type="receipt", limits=Limits(max_bytes=10_000_000))
result.to_dict()
"""

from .core import DOC_TYPES, extract
from .errors import (
    Corrupt,
    DecompressionBomb,
    Empty,
    Encrypted,
    ExtractionError,
    OCRUnavailable,
    Timeout,
    TooLarge,
    TooManyPages,
    UnsupportedType,
)
from .isolate import extract_isolated
from .result import ExtractionResult, Field, Limits, Page, Source
from .sniff import SUPPORTED as SUPPORTED_MEDIA_TYPES
from .text import render_pdf_page

__all__ = [
    "DOC_TYPES",
    "SUPPORTED_MEDIA_TYPES",
    "Corrupt",
    "DecompressionBomb",
    "Empty",
    "Encrypted",
    "ExtractionError",
    "ExtractionResult",
    "Field",
    "Limits",
    "OCRUnavailable",
    "Page",
    "Source",
    "Timeout",
    "TooLarge",
    "TooManyPages",
    "UnsupportedType",
    "extract",
    "extract_isolated",
    "render_pdf_page",
]
