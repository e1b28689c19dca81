"""What an uploaded contact file really is, judged by its bytes, not by its name.

A small allowlist: PDF, PNG, JPEG, GIF, WebP, DOCX, plain text and CSV. A file whose
bytes are none of these, or whose name claims another type than its bytes (a renamed
file), is refused.
"""

from __future__ import annotations

import codecs
import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.core.files.uploadedfile import UploadedFile

HEAD_BYTES = 8192
TEXT_SAMPLE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class FileKind:
    label: str
    content_type: str
    extensions: tuple[str, ...]  # the first is used for the stored name


PDF = FileKind("PDF document", "application/pdf", ("pdf",))
PNG = FileKind("PNG image", "image/png", ("png",))
JPEG = FileKind("JPEG image", "image/jpeg", ("jpg", "jpeg"))
GIF = FileKind("GIF image", "image/gif", ("gif",))
WEBP = FileKind("WebP image", "image/webp", ("webp",))
DOCX = FileKind(
    "Word document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ("docx",),
)
TEXT = FileKind("text file", "text/plain", ("txt", "text", "log", "md"))
CSV = FileKind("CSV file", "text/csv", ("csv",))
ALLOWED = (PDF, PNG, JPEG, GIF, WEBP, DOCX, TEXT, CSV)
ALLOWED_LABEL = "PDF, PNG, JPEG, GIF, WebP, DOCX, TXT or CSV"


class UnsupportedFile(ValueError):
    pass


def _extension(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower().lstrip(".")


def _is_docx(upload: UploadedFile) -> bool:
    upload.seek(0)
    try:
        with zipfile.ZipFile(upload) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    finally:
        upload.seek(0)
    return "word/document.xml" in names and "[Content_Types].xml" in names


def _is_text(upload: UploadedFile) -> bool:
    upload.seek(0)
    sample = upload.read(TEXT_SAMPLE_BYTES)
    upload.seek(0)
    if b"\x00" in sample:
        return False
    try:
        # Not final: a sample cut inside a multi-byte character is still text.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def sniff(upload: UploadedFile) -> FileKind | None:
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"PK\x03\x04"):
        return DOCX if _is_docx(upload) else None
    if head and _is_text(upload):
        return CSV if _extension(upload.name or "") == "csv" else TEXT
    return None


def check(upload: UploadedFile) -> FileKind:
    """The file's kind, or UnsupportedFile with a message for the client."""
    kind = sniff(upload)
    if kind is None:
        raise UnsupportedFile(f"Unsupported file type. Upload a {ALLOWED_LABEL} file.")
    extension = _extension(upload.name or "")
    if extension and extension not in kind.extensions:
        raise UnsupportedFile(
            f"The file's content is a {kind.label}, but its name ends in .{extension}. "
            "Rename it to match its content."
        )
    return kind


def sha256_of(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()
