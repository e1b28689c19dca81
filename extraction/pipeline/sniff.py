"""Detect the real type of an upload from its bytes and check it against its name."""

from __future__ import annotations

import io
import os
import zipfile

from .errors import Corrupt, DecompressionBomb, Empty, Encrypted, UnsupportedType

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
WEBP = "image/webp"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TXT = "text/plain"
CSV = "text/csv"

SUPPORTED = (PDF, PNG, JPEG, TIFF, WEBP, DOCX, TXT, CSV)
IMAGE_TYPES = (PNG, JPEG, TIFF, WEBP)

EXTENSIONS = {
    ".pdf": PDF,
    ".png": PNG,
    ".jpg": JPEG,
    ".jpeg": JPEG,
    ".jpe": JPEG,
    ".jfif": JPEG,
    ".tif": TIFF,
    ".tiff": TIFF,
    ".webp": WEBP,
    ".docx": DOCX,
    ".txt": TXT,
    ".text": TXT,
    ".csv": CSV,
}

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OTHER_SIGNATURES = {
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
    b"BM": "image/bmp",
    b"\x1f\x8b": "application/gzip",
    b"7z\xbc\xaf\x27\x1c": "application/x-7z-compressed",
    b"Rar!": "application/vnd.rar",
    b"\x7fELF": "application/x-executable",
    b"MZ": "application/x-msdownload",
    b"%!PS": "application/postscript",
    b"\x00\x00\x01\x00": "image/x-icon",
}

# Uncompressed size allowed for the parts of an Office file, relative to the upload.
_ZIP_MAX_RATIO = 100
_ZIP_MAX_TOTAL = 512 * 1024 * 1024


def _is_text(data: bytes) -> bool:
    sample = data[:65536]
    if sample.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is fine.
        if exc.start < len(sample) - 4:
            # Legacy 8-bit text: accept if control characters are rare.
            pass
        else:
            return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return controls <= max(1, len(sample) // 200)


def decode_text(data: bytes) -> str:
    """Decode a text upload: BOMs first, then UTF-8, then Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def check_zip(data: bytes) -> zipfile.ZipFile:
    """Open a ZIP container, refusing corrupt archives and zip bombs."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise Corrupt.because("The file is a damaged ZIP/Office container", exc) from exc
    total = sum(i.file_size for i in infos)
    if total > _ZIP_MAX_TOTAL or total > _ZIP_MAX_RATIO * max(len(data), 1024 * 1024):
        raise DecompressionBomb(
            f"The archive expands to {total} bytes from {len(data)}; refusing a possible zip bomb."
        )
    if any(i.flag_bits & 0x1 for i in infos):
        raise Encrypted("The Office file is encrypted.")
    return zf


def sniff(data: bytes) -> str:
    """Return the media type of ``data`` judged from its content alone."""
    if not data:
        raise Empty("The file is empty.")
    head = data[:16]
    pdf_at = data[:1024].find(b"%PDF-")
    # Readers accept junk before the header; plain text that merely mentions it is text.
    if pdf_at == 0 or (pdf_at > 0 and not _is_text(data[:pdf_at])):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        zf = check_zip(data)
        names = set(zf.namelist())
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if "ppt/presentation.xml" in names:
            return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        return "application/zip"
    if head.startswith(_OLE):
        # Password-protected OOXML files are stored inside an OLE container.
        if "EncryptedPackage".encode("utf-16-le") in data:
            return "application/x-encrypted-office"
        return "application/x-ole-storage"  # legacy .doc/.xls
    for sig, media in _OTHER_SIGNATURES.items():
        if head.startswith(sig):
            return media
    if _is_text(data):
        return TXT
    return "application/octet-stream"


def detect(data: bytes, filename: str) -> str:
    """Sniff ``data`` and check that ``filename``'s extension agrees.

    Returns one of :data:`SUPPORTED`.  Raises UnsupportedType when the content is
    not supported or when the extension names another type (a renamed file).
    """
    actual = sniff(data)
    ext = os.path.splitext(filename or "")[1].lower()
    claimed = EXTENSIONS.get(ext) if ext else None

    if actual == "application/x-encrypted-office":
        if claimed in (DOCX, None):
            raise Encrypted("The Office document is password protected.")
        raise UnsupportedType(f"The file is named {ext} but contains an encrypted Office document.")

    if ext and claimed is None:
        raise UnsupportedType(f"Files of type {ext} are not supported.")

    if actual == TXT:
        # Text content: .csv and .txt (or no extension) are both plain text underneath.
        if claimed in (TXT, CSV):
            return claimed
        if claimed is None:
            return TXT
        raise UnsupportedType(f"The file is named {ext} but contains plain text.")

    if actual not in SUPPORTED:
        raise UnsupportedType(f"The content is {actual}, which is not supported.")
    if claimed is not None and claimed != actual:
        raise UnsupportedType(f"The file is named {ext} but its content is {actual}.")
    return actual
