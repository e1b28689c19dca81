"""Keeps every answer under /v1/open in the JSON envelope, whatever produced it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError, DataError, IntegrityError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from a2v2.envelope import error_response
from a2v2.outage import outage

logger = logging.getLogger(__name__)

OPEN_API_PREFIX = "/v1/open/"


def is_open_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(OPEN_API_PREFIX) or request.path_info == "/v1/open"


class OpenApiEnvelopeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "api_key", None) is not None and response.status_code < 500:
            # A keyed call that got this far read the database and the rate-limit counters.
            outage("database").succeeded()
            outage("cache").succeeded()
        refusal = getattr(request, "key_refusal", None)
        message = str(getattr(refusal, "message", ""))
        if getattr(refusal, "status", None) == 503 and "cache" in message.lower():
            # The key checks could not reach the shared counters: a cache outage.
            outage("cache").failed(message, "Open API")
        if not is_open_api(request) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        # Ninja's 405 and Django's own error pages are plain text or HTML.
        enveloped = error_response(response.status_code)
        for header in ("Allow", "Retry-After"):
            if header in response:
                enveloped[header] = response[header]
        return enveloped

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_open_api(request):
            return None
        if isinstance(exception, DatabaseError):
            return database_error_response(exception)
        logger.exception("Unhandled error under /v1/open")
        return error_response(500)


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
