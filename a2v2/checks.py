"""System checks for settings that do not fit together (`manage.py check`)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from a2v2.lib.client_ip import parse_networks
from apikeys.crypto import MIN_HASH_KEY_LENGTH, fingerprint


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
    if not settings.APIKEY_SHOW_ONCE and not settings.KEY_ENCRYPTION_KEYS:
        problems.append(
            Error(
                "KEY_ENCRYPTION_KEYS is not set, so API keys cannot be copied again later.",
                hint="Set KEY_ENCRYPTION_KEYS to a long random string (not SECRET_KEY), "
                "or APIKEY_SHOW_ONCE=true to show each key only once.",
                id="a2v2.E004",
            )
        )
    problems += _hash_key_problems()
    if settings.RATELIMIT_ON_CACHE_FAILURE not in ("open", "closed"):
        problems.append(
            Error(
                f"RATELIMIT_ON_CACHE_FAILURE is {settings.RATELIMIT_ON_CACHE_FAILURE!r}.",
                hint='Use "closed" (refuse with 503 while Redis is down) or "open".',
                id="a2v2.E005",
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
def check_jobs_and_monitoring(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    problems: list[Error] = []
    if settings.EXTRACTION_HEARTBEAT_SECONDS * 2 > settings.EXTRACTION_LEASE_SECONDS:
        problems.append(
            Error(
                f"EXTRACTION_HEARTBEAT_SECONDS ({settings.EXTRACTION_HEARTBEAT_SECONDS:g}) is "
                f"more than half of EXTRACTION_LEASE_SECONDS ({settings.EXTRACTION_LEASE_SECONDS})"
                ": one late heartbeat would hand a running job to another worker.",
                hint="Renew at most every third of the lease (defaults: 5 s and 20 s).",
                id="a2v2.E007",
            )
        )
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


KEY_SAMPLE = 20


@register(Tags.security, deploy=True)
def check_stored_keys_decrypt(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Decrypt the newest and the oldest stored keys: a KEY_ENCRYPTION_KEYS that cannot open
    them would make Copy API Key fail for every integration."""
    from apikeys import crypto
    from apikeys.models import ApiKey

    if settings.APIKEY_SHOW_ONCE:
        return []
    try:
        stored = ApiKey.objects.exclude(encrypted_key="").order_by("created_at")
        sample = {
            key.key_id: key.encrypted_key
            for key in [*stored[:KEY_SAMPLE], *stored.reverse()[:KEY_SAMPLE]]
        }
    except DatabaseError:
        return []  # no database here (a build step): nothing to sample
    unreadable = []
    for key_id, token in sample.items():
        try:
            crypto.decrypt_key(token)
        except crypto.UndecryptableKey:
            unreadable.append(key_id)
    if not unreadable:
        return []
    shown = ", ".join(unreadable[:5]) + (" …" if len(unreadable) > 5 else "")
    return [
        Error(
            f"{len(unreadable)} of {len(sample)} sampled API keys cannot be decrypted with "
            f"KEY_ENCRYPTION_KEYS ({shown}).",
            hint="The key-encryption key that encrypted them is missing: put it back in "
            "KEY_ENCRYPTION_KEYS (after the current one), then run "
            "`manage.py rotate_key_encryption`. Rotating the API keys is the last resort.",
            id="a2v2.E006",
        )
    ]


@register(Tags.security, deploy=True)
def check_task_redis(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """The Redis that holds queued jobs must keep them: its own database (a cache clear is
    a FLUSHDB), persistence, and no eviction."""
    options = settings.TASKS["default"].get("OPTIONS", {})
    tasks_url = options.get("REDIS_URL")
    if not tasks_url or "redis" not in settings.TASKS["default"]["BACKEND"].lower():
        return []
    problems: list[Warning] = []
    cache_location = str(settings.CACHES["default"].get("LOCATION", ""))
    if _same_redis_database(tasks_url, cache_location):
        problems.append(
            Warning(
                "The task queue and the cache share one Redis database.",
                hint="Give TASKS_REDIS_URL its own database (…:6379/1) or server: clearing "
                "the cache would drop every queued job's message.",
                id="a2v2.W003",
            )
        )
    problems += _task_redis_config(tasks_url)
    return problems


def _same_redis_database(first: str, second: str) -> bool:
    def place(url: str) -> tuple[str, int, str]:
        parts = urlsplit(url)
        database = parts.path.strip("/") or "0"
        return (parts.hostname or "", parts.port or 6379, database)

    return bool(second) and second.startswith("redis") and place(first) == place(second)


def _task_redis_config(url: str) -> list[Warning]:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, decode_responses=True)
        config = client.config_get("maxmemory-policy") | client.config_get("appendonly")
        config |= client.config_get("save")
    except redis.RedisError:
        return []  # unreachable or CONFIG disabled (managed Redis): nothing to tell
    problems: list[Warning] = []
    if config.get("maxmemory-policy", "noeviction") != "noeviction":
        problems.append(
            Warning(
                f"The task queue's Redis evicts keys (maxmemory-policy "
                f"{config['maxmemory-policy']}): queued jobs can be dropped under memory "
                "pressure.",
                hint="Run it with maxmemory-policy noeviction (docs/deploy.md, Task workers).",
                id="a2v2.W004",
            )
        )
    if config.get("appendonly") != "yes" and not config.get("save"):
        problems.append(
            Warning(
                "The task queue's Redis keeps nothing on disk (no AOF, no RDB snapshots): a "
                "restart drops every queued job's message.",
                hint="Run it with appendonly yes (docs/deploy.md, Task workers). Lost "
                "messages are sent again by the workers' sweep, but only after "
                "EXTRACTION_RESEND_AFTER_SECONDS.",
                id="a2v2.W005",
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


def _hash_key_problems() -> list[Error]:
    """APIKEY_HASH_KEYS: required (debug derives one unless it is set empty), none twice,
    and outside debug each long enough to be a key."""
    keys = list(settings.APIKEY_HASH_KEYS)
    hint = (
        "Set APIKEY_HASH_KEYS to a random string of 32+ characters, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(32))' (comma-separated "
        "while rotating: new first, then the old ones)."
    )
    if not keys:
        return [
            Error(
                "APIKEY_HASH_KEYS is not set, so API keys cannot be verified.",
                hint=hint,
                id="a2v2.E009",
            )
        ]
    short = [n for n, key in enumerate(keys, 1) if len(key) < MIN_HASH_KEY_LENGTH]
    if short and not settings.DEBUG:
        places = ", ".join(map(str, short))
        return [
            Error(
                f"APIKEY_HASH_KEYS: key {places} is shorter than {MIN_HASH_KEY_LENGTH} characters.",
                hint=hint,
                id="a2v2.E009",
            )
        ]
    if len({fingerprint(key) for key in keys}) != len(keys):
        return [Error("APIKEY_HASH_KEYS lists the same key twice.", hint=hint, id="a2v2.E009")]
    return []
