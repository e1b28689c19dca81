"""Typed requests: what our middleware attaches to a request, declared once."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.signals import setting_changed
from django.http import HttpRequest

from a2v2.lib.client_ip import IPAddress, IPNetwork, parse_networks, resolve_client_ip

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from accounts.models import User
    from apikeys.models import ApiKey


class AuthenticatedHttpRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


class ApiRequest(HttpRequest):
    """A /v1/open request that ApiKeyMiddleware let through."""

    api_key: ApiKey


@cache
def trusted_proxies() -> tuple[IPNetwork, ...]:
    return parse_networks(settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> IPAddress | None:
    """The client's address, computed once per request."""
    if not hasattr(request, "_client_ip"):
        request._client_ip = resolve_client_ip(  # type: ignore[attr-defined]
            request.META.get("REMOTE_ADDR", ""),
            request.META.get("HTTP_X_FORWARDED_FOR"),
            trusted_proxies(),
        )
    return request._client_ip  # type: ignore[attr-defined]


def client_ip_str(request: HttpRequest) -> str | None:
    """The same address as text, computed once per request: the API's failure budgets and
    usage counts name clients by it, and django-axes counts failed sign-ins by it
    (AXES_CLIENT_IP_CALLABLE), so sign-in limits and the API agree on who the client is."""
    if not hasattr(request, "_client_ip_str"):
        address = client_ip(request)
        request._client_ip_str = str(address) if address is not None else None  # type: ignore[attr-defined]
    return request._client_ip_str  # type: ignore[attr-defined]


def _forget_trusted_proxies(*, setting: str, **kwargs: object) -> None:
    if setting == "TRUSTED_PROXIES":
        trusted_proxies.cache_clear()


setting_changed.connect(_forget_trusted_proxies)
