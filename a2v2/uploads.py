"""Refuse an upload that is too large from its Content-Length alone, before Django
spools the body to a temporary file, and one that is not multipart/form-data at all (415),
while still answering "who may not upload" first."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest

from a2v2.envelope import ApiError, error_response
from a2v2.lib.text import NUL, NUL_MESSAGE

# Room for the multipart envelope (boundaries, part headers, small form fields) around a
# file of the largest allowed size.
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_AS_MULTIPART = "Send the file as multipart/form-data, in a part named file."


def too_large_message(limit: int) -> str:
    if limit >= 1024 * 1024:
        size = f"{limit / (1024 * 1024):g} MB"
    elif limit >= 1024:
        size = f"{limit / 1024:g} KB"
    else:
        size = f"{limit} bytes"
    return f"The file is larger than the {size} limit."


def refuse_bodies_over(
    max_bytes: Callable[[], int], permission: Callable[[HttpRequest], object]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """For ``decorate_view``: it wraps the whole operation, auth included, so the
    operation's ``permission`` is asked here before the 413 (403/404 stay the answer for
    a key that may not upload at all, as on every other endpoint)."""

    def decorate(run: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(run)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            length = request.META.get("CONTENT_LENGTH") or ""
            limit = max_bytes()
            too_large = length.isdigit() and int(length) > limit + MULTIPART_OVERHEAD
            not_multipart = request.content_type != "multipart/form-data"
            if too_large or not_multipart:
                try:
                    permission(request)
                except ApiError as refusal:
                    return error_response(refusal.status, refusal.message, refusal.errors)
                if too_large:
                    return error_response(413, too_large_message(limit))
                return error_response(415, UPLOAD_AS_MULTIPART)
            return run(request, *args, **kwargs)

        return wrapper

    return decorate


def refuse_nul_in_file_name(upload: UploadedFile) -> None:
    """The file name is stored as text: 422 for a NUL in it, as for any other text."""
    if NUL in (upload.name or ""):
        raise ApiError(422, NUL_MESSAGE, {"file": [NUL_MESSAGE]})
