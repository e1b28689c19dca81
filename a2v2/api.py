"""The Open API (`/v1/open`): one NinjaAPI, one response envelope, one error envelope.

Every answer, success or failure, is JSON of the shape in PRODUCT.md section 5:
`{"success": true, "message": "...", "data": ...}` or
`{"success": false, "message": "...", "errors": {...}}`. Errors are produced by
`error_response()` alone, whether they come from a view, from ninja's validation, from
the key middleware or from Django's URL resolver.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csp import csp_override
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from redis.exceptions import RedisError

from a2v2.envelope import ApiError, Envelope, ErrorEnvelope, error_response, ok
from a2v2.health import Dependencies, check_dependencies, operational_details
from a2v2.lib.text import NUL_MESSAGE, paths_with_nul
from a2v2.middleware import database_error_response, request_error_response
from a2v2.monitoring import is_monitor
from a2v2.outage import outage
from apikeys.permissions import undeclared

logger = logging.getLogger(__name__)


class QueueHealth(Schema):
    queued: int
    processing: int
    stale: int
    oldestQueuedSeconds: float


class WorkersHealth(Schema):
    seen: int
    withinSeconds: float


class HealthData(Schema):
    database: str
    cache: str
    # Shown to monitors only (MONITORING_ALLOWED_IPS or MONITORING_TOKEN).
    version: str | None = None
    queue: QueueHealth | None = None
    workers: WorkersHealth | None = None


def _validation_errors(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Ninja's pydantic errors as {"field.path": ["message", ...]}."""
    fields: dict[str, list[str]] = {}
    for error in errors:
        location = [
            str(part) for part in error.get("loc", ()) if part not in ("body", "payload", "query")
        ]
        field = ".".join(location) or "__all__"
        fields.setdefault(field, []).append(str(error.get("msg", "Invalid value.")))
    return fields


# The docs page runs Swagger UI, which sets inline styles; nothing else is relaxed.
docs_csp = csp_override(
    {
        "default-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
    }
)

# Refusals any keyed operation can answer with, whatever the view declares: the key
# middleware and the permission layer produce them before the view runs (PRODUCT.md §5).
KEYED_REFUSALS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    # Any request can be too long (OPEN_API_MAX_URL_BYTES, OPEN_API_MAX_HEADER(S)_BYTES).
    414: "URI Too Long",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
INPUT_REFUSALS = {422: "Unprocessable Content"}
BODY_REFUSALS = {413: "Content Too Large", 415: "Unsupported Media Type"}

# How a key may be sent (PRODUCT.md §4): the OpenAPI document offers all three.
SECURITY_SCHEMES = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The whole key: `X-API-Key: a2v2_<key id>_<secret>`.",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "a2v2_<key id>_<secret>",
        "description": "The whole key: `Authorization: Bearer a2v2_<key id>_<secret>`.",
    },
    "KeyId": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "Two-header form: the key id alone, with X-API-Secret.",
    },
    "KeySecret": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Secret",
        "description": "Two-header form: the secret, with the key id in X-API-Key.",
    },
}
SECURITY = [{"ApiKey": []}, {"Bearer": []}, {"KeyId": [], "KeySecret": []}]
JSON_TYPES = ("application/json",)


class JsonParser(Parser):
    """JSON bodies, strictly: `Content-Type: application/json` (or `…+json`), UTF-8, and no
    NUL character in any string (PostgreSQL could not store it)."""

    def parse_body(self, request: HttpRequest) -> Any:
        content_type = request.content_type or ""
        if content_type not in JSON_TYPES and not (
            content_type.startswith("application/") and content_type.endswith("+json")
        ):
            raise ApiError(
                415, "Send the body as JSON, with the header Content-Type: application/json."
            )
        charset = request.content_params.get("charset", "utf-8").lower()
        if charset.replace("-", "") != "utf8":
            raise ApiError(415, f"JSON bodies must be UTF-8, not {charset}.")
        try:
            data = json.loads(request.body.decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(400, "The request body is not UTF-8.") from None
        except ValueError as error:
            raise ApiError(400, f"The request body is not valid JSON: {error}.") from None
        nul = paths_with_nul(data)
        if nul:
            raise ApiError(422, NUL_MESSAGE, {key: [NUL_MESSAGE] for key in nul})
        return data


class OpenApi(NinjaAPI):
    """Documents in every operation the error envelopes it can really answer with, so the
    OpenAPI document tells clients (and schemathesis) the whole truth."""

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(**kwargs)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault(
            "ErrorEnvelope", ErrorEnvelope.model_json_schema(ref_template="#/components/{model}")
        )
        schema["components"]["securitySchemes"] = SECURITY_SCHEMES
        reference = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if not isinstance(operation, dict) or not operation.get("security"):
                    continue
                refusals = dict(KEYED_REFUSALS)
                body = operation.get("requestBody", {}).get("content", {})
                if operation.get("parameters") or body:
                    refusals |= INPUT_REFUSALS
                if body:
                    refusals |= BODY_REFUSALS
                operation["security"] = SECURITY
                responses = operation.setdefault("responses", {})
                for status, description in refusals.items():
                    responses.setdefault(
                        str(status), {"description": description, "content": reference}
                    )
        return schema


api = OpenApi(
    title="A2V2 Open API",
    version="1.0.0",
    description=(
        "Scoped API keys for an agent's CRM contacts and document extraction. "
        "Send the key as `X-API-Key: <key>` or `Authorization: Bearer <key>`, or the key id "
        "in `X-API-Key` with the secret in `X-API-Secret`; never in the URL."
    ),
    parser=JsonParser(),
    urls_namespace="open-api",
    docs_url="/docs",
    docs_decorator=docs_csp,
    # An operation that declares no permission is denied (apikeys.permissions).
    auth=undeclared,
)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = error_response(exc.status, exc.message, exc.errors)
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(422, errors=_validation_errors(exc.errors))


@api.exception_handler(AuthenticationError)
def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(401)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # Ninja wraps whatever the body parser raises in a 400: keep JsonParser's own answer.
    if isinstance(exc.__cause__, ApiError):
        return _api_error(request, exc.__cause__)
    message = str(exc) if exc.status_code != 400 else "The request body is not valid JSON."
    return error_response(exc.status_code, message)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404)


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(403, str(exc) or None)


@api.exception_handler(SuspiciousOperation)
@api.exception_handler(MultiPartParserError)
def _unreadable_request(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE (413), broken multipart or too many fields
    (400): raised by Django while ninja reads the request."""
    return request_error_response(exc) or error_response(400)


@api.exception_handler(DatabaseError)
def _database_error(request: HttpRequest, exc: DatabaseError) -> HttpResponse:
    return database_error_response(exc)


@api.exception_handler(RedisError)
def _cache_down(request: HttpRequest, exc: RedisError) -> HttpResponse:
    outage("cache").failed(exc, "Open API")
    return error_response(503, "The cache is unavailable; try again shortly.")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unhandled error under /v1/open")
    return error_response(500)


@api.get(
    "/health",
    auth=None,
    url_name="health",
    response={200: Envelope[HealthData], 503: Envelope[HealthData]},
    exclude_none=True,
    tags=["health"],
    summary="Database and cache reachability (no key needed); queue and workers for monitors",
)
def health(request: HttpRequest) -> Status:
    status: Dependencies = check_dependencies()
    data: dict[str, Any] = status.as_dict()
    if is_monitor(request):
        data |= operational_details(status.database)
    if status.healthy:
        return Status(200, ok(data, "All dependencies are reachable."))
    down = ", ".join(status.down)
    return Status(503, {"success": False, "message": f"Unavailable: {down}.", "data": data})
