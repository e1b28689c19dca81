"""URLs for the benchmarks: the product's, plus one trivial endpoint under /v1/open served
twice, so a guarded call can be compared with the same call unauthenticated:

- `GET /v1/open/bench/ping`        no key (the baseline: every middleware of the API runs)
- `GET /v1/open/bench/ping/keyed`  the same view behind the key middleware (any valid key)

Both return `{"success": true, "message": "pong", "data": {}}`. Nothing here is part of the
product: `bench/settings.py` mounts it for `bench/auth_bench.py` and
`bench/middleware_cost.py` only.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import path
from ninja import NinjaAPI

from a2v2.envelope import ok
from a2v2.urls import urlpatterns as product_urlpatterns
from apikeys.middleware import ApiKeyMiddleware
from apikeys.permissions import any_valid_key

bench_api = NinjaAPI(urls_namespace="bench-api", docs_url=None, openapi_url=None)


@bench_api.get("/ping", auth=None, url_name="bench-ping")
def ping(request: HttpRequest) -> dict[str, Any]:
    return ok({}, "pong")


@bench_api.get("/ping/keyed", auth=any_valid_key, url_name="bench-ping-keyed")
def ping_keyed(request: HttpRequest) -> dict[str, Any]:
    return ok({}, "pong")


class BenchApiKeyMiddleware(ApiKeyMiddleware):
    """The product's key middleware, with the baseline ping among the keyless routes."""

    public_routes = ApiKeyMiddleware.public_routes | {"bench-ping"}


urlpatterns = [path("v1/open/bench/", bench_api.urls), *product_urlpatterns]
