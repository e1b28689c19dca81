"""Keeps every answer under /v1/open in the JSON envelope, whatever produced it.

Before anything reads the request, `OpenApiEnvelopeMiddleware` refuses, in the envelope,
what the rest of the stack would otherwise answer with HTML or a 500: a request line or
headers over our caps (414, 431), a NUL character in the path or the query string (422).
It answers HEAD wherever GET is answered (uptime monitors use HEAD), and it turns the
request-parsing errors Django raises lazily (a body over DATA_UPLOAD_MAX_MEMORY_SIZE,
broken multipart, too many fields) into 413 and 400.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import DatabaseError, DataError, IntegrityError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError

from a2v2.envelope import error_response
from a2v2.lib.text import NUL, NUL_MESSAGE
from a2v2.outage import outage

logger = logging.getLogger(__name__)

OPEN_API_PREFIX = "/v1/open/"


def is_open_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(OPEN_API_PREFIX) or request.path_info == "/v1/open"


class OpenApiEnvelopeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_open_api(request):
            return self.get_response(request)
        refusal = refuse_request_shape(request)
        if refusal is not None:
            return refusal
        head = request.method == "HEAD"
        if head:
            request.method = "GET"
        response = self.get_response(request)
        if getattr(request, "api_key", None) is not None and response.status_code < 500:
            # A keyed call that got this far read the database and the rate-limit counters.
            outage("database").succeeded()
            outage("cache").succeeded()
        key_refusal = getattr(request, "key_refusal", None)
        message = str(getattr(key_refusal, "message", ""))
        if getattr(key_refusal, "status", None) == 503 and "cache" in message.lower():
            # The key checks could not reach the shared counters: a cache outage.
            outage("cache").failed(message, "Open API")
        if head:
            request.method = "HEAD"
            without_body(response)
        if response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        # Ninja's 405 and Django's own error pages are plain text or HTML.
        enveloped = error_response(response.status_code)
        for header in ("Allow", "Retry-After"):
            if header in response:
                enveloped[header] = response[header]
        if head:
            without_body(enveloped)
        return enveloped

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_open_api(request):
            return None
        return exception_response(exception)


def exception_response(exception: Exception) -> HttpResponse:
    """The envelope for an exception that escaped a view under /v1/open."""
    refusal = request_error_response(exception)
    if refusal is not None:
        return refusal
    if isinstance(exception, DatabaseError):
        return database_error_response(exception)
    logger.exception("Unhandled error under /v1/open")
    return error_response(500)


def request_error_response(exception: Exception) -> HttpResponse | None:
    """Django parses bodies lazily, so these surface wherever `request.POST`, `.FILES` or
    `.body` is first read: they are the client's mistakes, never a 500."""
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response(
            413, f"The request body is larger than the {limit // (1024 * 1024)} MB limit."
        )
    if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        return error_response(400, "The request has too many form fields or files.")
    if isinstance(exception, MultiPartParserError):
        return error_response(400, f"The multipart body could not be parsed: {exception}")
    if isinstance(exception, SuspiciousOperation):
        return error_response(400)
    return None


def refuse_request_shape(request: HttpRequest) -> HttpResponse | None:
    """Our own caps on the request line and headers (gunicorn's are set above them, in
    a2v2/gunicorn_conf.py, so that these answers come from here, in the envelope)."""
    line = len(request.META.get("PATH_INFO", "")) + len(request.META.get("QUERY_STRING", ""))
    if line > settings.OPEN_API_MAX_URL_BYTES:
        return error_response(
            414, f"The URL is longer than {settings.OPEN_API_MAX_URL_BYTES:,} bytes."
        )
    headers = [
        (name, value)
        for name, value in request.META.items()
        if name.startswith("HTTP_") or name in ("CONTENT_TYPE", "CONTENT_LENGTH")
    ]
    too_long = [name for name, value in headers if len(value) > settings.OPEN_API_MAX_HEADER_BYTES]
    total = sum(len(name) + len(str(value)) for name, value in headers)
    if too_long or total > settings.OPEN_API_MAX_HEADERS_BYTES:
        message = (
            f"A request header is longer than {settings.OPEN_API_MAX_HEADER_BYTES:,} bytes."
            if too_long
            else f"The request headers exceed {settings.OPEN_API_MAX_HEADERS_BYTES:,} bytes."
        )
        return error_response(431, message)
    if NUL in request.path_info or "%00" in request.META.get("QUERY_STRING", ""):
        names = sorted({name for name, value in request.GET.lists() if _has_nul(name, value)})
        errors = {key: [NUL_MESSAGE] for key in names or ["path"]}
        return error_response(422, NUL_MESSAGE, errors)
    return None


def _has_nul(name: str, values: list[str]) -> bool:
    return NUL in name or any(NUL in value for value in values)


def without_body(response: HttpResponse) -> None:
    """HEAD: the GET's status and headers (Content-Length included), no body."""
    if response.streaming:
        # The file behind a FileResponse is still closed by response.close().
        response.streaming_content = []  # type: ignore[attr-defined]
        return
    length = len(response.content)
    response.content = b""
    response["Content-Length"] = str(length)


def database_error_response(exception: DatabaseError) -> HttpResponse:
    """Only a database that cannot be reached is "unavailable" (503, retry); a value out of
    range is the client's (422), a constraint race a conflict (409), anything else ours."""
    if isinstance(exception, OperationalError | InterfaceError):
        outage("database").failed(exception, "Open API")
        response = error_response(503, "The database is unavailable; try again shortly.")
        response["Retry-After"] = "5"
        return response
    if isinstance(exception, DataError):
        logger.info("Database refused a value under /v1/open: %s", exception)
        return error_response(422, "A value is out of range.")
    if isinstance(exception, IntegrityError):
        logger.info("Integrity error under /v1/open: %s", exception)
        return error_response(409, "This conflicts with existing data; re-read and retry.")
    logger.exception("Database error under /v1/open")
    return error_response(500)
