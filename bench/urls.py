"""The baseline for bench/auth_bench.py: the same view as GET /v1/open/keys/me, with the
key looked up by id (one query, as the middleware does) but no verification, no rate
limit and no last-used bookkeeping."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, JsonResponse
from django.urls import path

from a2v2.urls import urlpatterns as product_urlpatterns
from apikeys.api import key_me
from apikeys.models import ApiKey


def unguarded_key_me(request: HttpRequest, key_id: str) -> JsonResponse:
    request.api_key = ApiKey.objects.select_related("agent").get(key_id=key_id)  # type: ignore[attr-defined]
    return JsonResponse(key_me(request), encoder=DjangoJSONEncoder)  # type: ignore[arg-type]


urlpatterns = [path("bench/unguarded/<str:key_id>", unguarded_key_me), *product_urlpatterns]
