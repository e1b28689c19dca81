"""Errors raised by the extraction pipeline.

Every error carries a stable machine ``code``, a human ``message`` and the HTTP
status an API should answer with, so callers never need to map them by hand.
"""

from __future__ import annotations


class ExtractionError(Exception):
    """Base class: a document could not be extracted."""

    code = "extraction_failed"
    http_status = 422

    def __init__(self, message: str = "", code: str | None = None):
        self.message = message or self.__class__.__doc__.strip().splitlines()[0]
        if code:
            self.code = code
        super().__init__(self.message)

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class UnsupportedType(ExtractionError):
    """The file type is not supported, or its content does not match its name."""

    code = "unsupported_type"
    http_status = 415


class TooLarge(ExtractionError):
    """The file is larger than the configured maximum size."""

    code = "too_large"
    http_status = 413


class Encrypted(ExtractionError):
    """The document is encrypted or password protected."""

    code = "encrypted"
    http_status = 422


class Corrupt(ExtractionError):
    """The document is damaged and cannot be read."""

    code = "corrupt"
    http_status = 422

    @classmethod
    def because(cls, summary: str, cause: BaseException) -> Corrupt:
        """`summary`, then the library's own words as a second sentence: "The PDF is damaged
        and cannot be opened. Failed to load document (PDFium: Data format error)." — never
        nested in parentheses or ending in a doubled full stop."""
        detail = str(cause).strip().rstrip(".")
        return cls(f"{summary}. {detail[:1].upper()}{detail[1:]}." if detail else f"{summary}.")


class Empty(ExtractionError):
    """The file is empty."""

    code = "empty"
    http_status = 422


class TooManyPages(ExtractionError):
    """The document has more pages than the configured maximum."""

    code = "too_many_pages"
    http_status = 422


class DecompressionBomb(ExtractionError):
    """The image is larger in pixels than allowed (possible decompression bomb)."""

    code = "decompression_bomb"
    http_status = 422


class Timeout(ExtractionError):
    """The extraction took longer than its time limit."""

    code = "timeout"
    http_status = 422


class OCRUnavailable(ExtractionError):
    """No OCR engine is installed, so scanned pages cannot be read."""

    code = "ocr_unavailable"
    http_status = 500
