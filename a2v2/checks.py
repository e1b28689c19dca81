"""System checks for settings that do not fit together (`manage.py check`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from a2v2.lib.client_ip import parse_networks
from apikeys.crypto import MIN_HASH_KEY_LENGTH, fingerprint


@register(Tags.security, deploy=False)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    if not settings.DEBUG and not settings.SECRET_KEY:
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
