"""The ``extract()`` entry point: sniff → load pages → classify → fields/entities."""

from __future__ import annotations

import time

from . import sniff as st
from .entities import find_entities, find_key_values
from .errors import Empty, ExtractionError, TooLarge
from .fields import (
    contact_fields,
    detect_doc_type,
    generic_fields,
    schema_fields,
)
from .invoices import invoice_fields
from .receipts import receipt_fields
from .result import Deadline, ExtractionResult, Limits
from .text import load_pages

DOC_TYPES = ("receipt", "invoice", "contact", "generic")


def extract(
    data: bytes,
    filename: str,
    doc_type: str | None = None,
    schema: list[dict] | None = None,
    limits: Limits | None = None,
    *,
    ocr_engine: str | None = None,
) -> ExtractionResult:
    """Extract pages, fields, entities and key-values from one document.

    ``doc_type``: "receipt" | "invoice" | "contact" | "generic" | None (detect).
    ``schema``: optional ``[{"name", "type": text|number|date|money|email|phone, "hint"}]``.
    Raises :class:`ExtractionError` subclasses (each with ``code`` and ``http_status``).
    """
    limits = limits or Limits()
    deadline = Deadline(limits.timeout_seconds)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    if doc_type is not None and doc_type not in DOC_TYPES:
        raise ExtractionError(
            f"Unknown document type {doc_type!r}; expected one of {', '.join(DOC_TYPES)}.",
            code="invalid_doc_type",
        )
    if data is None or len(data) == 0:
        raise Empty("The file is empty.")
    if len(data) > limits.max_bytes:
        raise TooLarge(f"The file is {len(data)} bytes, more than the limit of {limits.max_bytes}.")

    media_type = st.detect(data, filename)
    warnings: list[str] = []
    pages = load_pages(data, media_type, limits, deadline, warnings, ocr_engine)
    timings["pages"] = round(time.perf_counter() - t0, 4)
    if not any(p.text.strip() for p in pages):
        warnings.append("No text was found in the document.")

    deadline.check("field extraction")
    t1 = time.perf_counter()
    kind = doc_type or detect_doc_type(pages)
    if kind == "receipt":
        fields = receipt_fields(pages)
    elif kind == "invoice":
        fields = invoice_fields(pages)
    elif kind == "contact":
        fields = contact_fields(pages)
    else:
        fields = generic_fields(pages)
    if schema:
        fields = schema_fields(pages, schema, fields)
    entities = find_entities(pages)
    key_values = find_key_values(pages)
    timings["fields"] = round(time.perf_counter() - t1, 4)
    timings["total"] = round(time.perf_counter() - t0, 4)
    deadline.check("field extraction")
    return ExtractionResult(
        media_type=media_type,
        doc_type=kind,
        pages=pages,
        fields=fields,
        entities=entities,
        key_values=key_values,
        warnings=warnings,
        timings=timings,
    )
