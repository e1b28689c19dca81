"""Authenticates and rate-limits every /v1/open request before any view runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from a2v2.envelope import error_response
from a2v2.http import client_ip
from a2v2.middleware import database_error_response, is_open_api
from apikeys import records, usage, verification
from apikeys.verification import Refusal, check

logger = logging.getLogger(__name__)


class ApiKeyMiddleware:
    """Early in MIDDLEWARE (a2v2/settings.py): a kept key's rate-limit round trip is sent
    as the request comes in and read when the view is known, so it travels while the
    layers in between work."""

    # Routes under /v1/open that need no key: health, the OpenAPI document, the docs page and
    # the JSON 404 for unknown paths.
    public_routes = frozenset({"health", "openapi-json", "openapi-view", "open-api-not-found"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        open_api = is_open_api(request)
        if open_api:
            verification.start(request)  # the counters' round trip, read in process_view
        try:
            response = self.get_response(request)
        finally:
            verification.give_back(request)  # when process_view never read it
        if open_api:
            usage.count(request, response)
        decision = getattr(request, "rate_limit", None)
        if decision is not None:
            for header, value in decision.headers().items():
                response[header] = value
        return response

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if not is_open_api(request) or request.resolver_match.url_name in self.public_routes:
            return None
        try:
            key, decision = check(request)
        except Refusal as refusal:
            request.key_refusal = refusal  # type: ignore[attr-defined]  # counted by a2v2.metrics
            response = error_response(refusal.status, refusal.message)
            for header, value in refusal.headers.items():
                response[header] = value
            if refusal.status == 401:
                response["WWW-Authenticate"] = 'Bearer realm="a2v2"'
            return response
        except DatabaseError as error:
            # process_view errors never reach process_exception: answer here (503 when the
            # database is unreachable).
            return database_error_response(error)
        request.rate_limit = decision  # type: ignore[attr-defined]
        if not decision.allowed:
            return error_response(429, "Rate limit exceeded for this API key.")
        request.api_key = key  # type: ignore[attr-defined]
        try:
            key.record_use(client_ip(request))
            records.note_use(key)
        except DatabaseError:
            logger.warning("Could not record the last use of key_id=%s", key.key_id)
        return None
