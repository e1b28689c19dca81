"""Who may read the operational details: queue depth, workers, version, metrics.

The public health answer says only whether the database and the cache are reachable.
Everything else goes to monitoring systems alone: a client address inside
MONITORING_ALLOWED_IPS (the address `a2v2.http.client_ip` resolves, so a proxy listed in
TRUSTED_PROXIES cannot be used to pass as an allowed address), or a request carrying
`Authorization: Bearer <MONITORING_TOKEN>`. Both are empty by default: nothing is shown.
"""

from __future__ import annotations

import hmac
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.http import HttpRequest

from a2v2.http import client_ip
from a2v2.lib.client_ip import IPNetwork, in_networks, parse_networks


@cache
def allowed_networks() -> tuple[IPNetwork, ...]:
    return parse_networks(settings.MONITORING_ALLOWED_IPS)


def is_monitor(request: HttpRequest) -> bool:
    token = settings.MONITORING_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    address = client_ip(request)
    networks = allowed_networks()
    return bool(networks) and address is not None and in_networks(address, networks)


def _forget(*, setting: str, **kwargs: object) -> None:
    if setting == "MONITORING_ALLOWED_IPS":
        allowed_networks.cache_clear()


setting_changed.connect(_forget)
