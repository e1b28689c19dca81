"""The project's system checks (`manage.py check`): secrets, proxies, cache, database and
monitoring. Each app checks its own settings and data in its own `checks.py`."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from a2v2.lib.client_ip import parse_networks


@register(Tags.security, deploy=False)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    if not settings.DEBUG and not secret_key_set():
        problems.append(
            Error(
                "SECRET_KEY is not set.",
                hint="Set the SECRET_KEY environment variable (or DEBUG=true for development).",
                id="a2v2.E001",
            )
        )
    try:
        parse_networks(settings.TRUSTED_PROXIES)
    except ValueError as error:
        problems.append(
            Error(
                f"TRUSTED_PROXIES: {error}.", hint="Use CIDRs such as 10.0.0.0/8.", id="a2v2.E002"
            )
        )
    engine = settings.DATABASES["default"]["ENGINE"]
    tasks_backend = settings.TASKS["default"]["BACKEND"]
    cache_backend = settings.CACHES["default"]["BACKEND"]
    if "locmem" in cache_backend.lower() and not settings.DEBUG:
        problems.append(
            Error(
                "CACHE_URL points at a per-process memory cache.",
                hint="Rate limits and key checks must be shared by every process: use the "
                "default database cache (dbcache://a2v2_cache) or Redis (redis://…).",
                id="a2v2.E003",
            )
        )
    if "redis" in tasks_backend.lower() and "redis" not in cache_backend.lower():
        problems.append(
            Warning(
                "The Redis task backend is used without the Redis cache.",
                hint="Scale-out deployments should set CACHE_URL=redis://… too.",
                id="a2v2.W001",
            )
        )
    if engine.endswith("sqlite3") and settings.HTTPS:
        problems.append(
            Warning(
                "SQLite is used with production (HTTPS) settings.",
                hint="Set DATABASE_URL=postgres://… for deployments with several processes.",
                id="a2v2.W002",
            )
        )
    return problems


def secret_key_set() -> bool:
    # Django raises on reading an empty SECRET_KEY; the check must report it instead.
    try:
        return bool(settings.SECRET_KEY)
    except ImproperlyConfigured:
        return False


@register(Tags.security, deploy=False)
def check_monitoring(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    problems: list[Error] = []
    try:
        parse_networks(settings.MONITORING_ALLOWED_IPS)
    except ValueError as error:
        problems.append(
            Error(
                f"MONITORING_ALLOWED_IPS: {error}.",
                hint="Use CIDRs such as 10.0.0.7/32.",
                id="a2v2.E008",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def check_metrics(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    if not settings.METRICS_ENABLED or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return []
    return [
        Warning(
            "METRICS_ENABLED without PROMETHEUS_MULTIPROC_DIR: each gunicorn process counts "
            "on its own, and /metrics shows whichever process answered.",
            hint="Set PROMETHEUS_MULTIPROC_DIR to a directory shared by the web and worker "
            "processes of the host (docs/deploy.md, Monitoring).",
            id="a2v2.W006",
        )
    ]
