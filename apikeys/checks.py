"""System checks for the API keys' settings and stored keys (`manage.py check`). The ids
keep the project's prefix (a2v2.E004 …): operators' runbooks and the docs name them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import DatabaseError

from apikeys.crypto import MIN_HASH_KEY_LENGTH, fingerprint


@register(Tags.security, deploy=False)
def check_api_key_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    problems: list[Error] = []
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


KEY_SAMPLE = 20


@register(Tags.security, deploy=True)
def check_stored_keys_decrypt(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Decrypt the newest and the oldest stored keys: a KEY_ENCRYPTION_KEYS that cannot open
    them would make Copy API Key fail for every integration."""
    from apikeys import crypto  # the models: not while apps load
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
