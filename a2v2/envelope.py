"""The Open API's one envelope: every answer under /v1/open is built here.

`{"success": true, "message": "...", "data": ...}` for success (lists add
`"pagination"`), `{"success": false, "message": "...", "errors": {...}}` for errors.
"""

from __future__ import annotations

import math
from typing import Any

from django.http import JsonResponse
from ninja import Schema

STATUS_MESSAGES = {
    400: "The request could not be parsed.",
    401: "Authentication failed.",
    403: "This API key is not allowed to do that.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "Conflict.",
    412: "The resource was changed by someone else.",
    413: "The request is too large.",
    415: "Unsupported media type.",
    422: "Validation failed.",
    429: "Rate limit exceeded.",
    500: "Internal server error.",
    503: "A service this API depends on is unavailable.",
}


class ApiError(Exception):
    """Raise anywhere under /v1/open to answer with the error envelope."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        errors: dict[str, Any] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        self.status = status
        self.message = message or STATUS_MESSAGES.get(status, "Request failed.")
        self.errors = errors or {}
        self.retry_after = retry_after
        super().__init__(self.message)


def error_response(
    status: int, message: str | None = None, errors: dict[str, Any] | None = None
) -> JsonResponse:
    body = {
        "success": False,
        "message": message or STATUS_MESSAGES.get(status, "Request failed."),
        "errors": errors or {},
    }
    response = JsonResponse(body, status=status)
    # Answers made before CommonMiddleware runs would otherwise go out chunked.
    response["Content-Length"] = str(len(response.content))
    return response


def ok(data: Any, message: str = "OK", **extra: Any) -> dict[str, Any]:
    return {"success": True, "message": message, "data": data, **extra}


def pagination(page: int, limit: int, total: int, **extra: Any) -> dict[str, Any]:
    return {
        "page": page,
        "limit": limit,
        "total": total,
        "totalPages": math.ceil(total / limit),
        **extra,
    }


# --- the same, as schemas for the OpenAPI document ----------------------------------------


class ErrorEnvelope(Schema):
    success: bool = False
    message: str
    errors: dict[str, Any]


class Envelope[T](Schema):
    success: bool
    message: str
    data: T


class Pagination(Schema):
    page: int
    limit: int
    total: int
    totalPages: int


class ListEnvelope[T](Schema):
    success: bool
    message: str
    data: list[T]
    pagination: Pagination
