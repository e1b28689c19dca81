"""How key secrets are kept: an argon2id hash to verify, and (unless the deployment is
show-once) a copy encrypted under the key-encryption key(s) from the environment."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed


@cache
def hasher() -> PasswordHasher:
    # The PHC string stores the parameters with the hash, so changing them later leaves
    # existing keys verifiable (and `check_needs_rehash` tells which to upgrade).
    return PasswordHasher(**settings.APIKEY_ARGON2)


def hash_secret(secret: str) -> str:
    return hasher().hash(secret)


def verify_secret(secret_hash: str, secret: str) -> bool:
    try:
        return hasher().verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def memo_token(key_id: str, secret: str, secret_hash: str) -> str:
    """A keyed digest meaning "this secret matched this stored hash".

    It is bound to the stored hash, so rolling the key invalidates it, and it reveals
    nothing about the secret to whoever can read the cache.
    """
    message = f"{key_id}\x00{secret}\x00{secret_hash}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _fernet_key(material: str) -> bytes:
    # Any high-entropy string works as a key-encryption key; derive Fernet's 32 bytes from it.
    return base64.urlsafe_b64encode(hashlib.sha256(b"a2v2-kek\x00" + material.encode()).digest())


@cache
def key_encryption() -> MultiFernet | None:
    """The first key encrypts; all of them decrypt (so keys can be rotated)."""
    materials = list(settings.KEY_ENCRYPTION_KEYS)
    if not materials:
        return None
    return MultiFernet([Fernet(_fernet_key(m)) for m in materials])


def encrypt_key(full_key: str) -> str:
    fernet = key_encryption()
    if fernet is None:
        raise RuntimeError("KEY_ENCRYPTION_KEYS is not configured.")
    return fernet.encrypt(full_key.encode()).decode()


class UndecryptableKey(Exception):
    """A stored copy that no configured key-encryption key opens: the configuration is
    wrong (a key removed from KEY_ENCRYPTION_KEYS, or a different one), not the API key."""

    message = (
        "The stored copy of this key cannot be decrypted with the configured "
        "KEY_ENCRYPTION_KEYS: the server's configuration is wrong (was the key-encryption key "
        "changed or removed?). Restore the key that encrypted it; do not rotate this API key."
    )


def decrypt_key(token: str) -> str | None:
    """The full key from its stored copy; None when there is no copy."""
    if not token:
        return None
    fernet = key_encryption()
    if fernet is None:
        raise UndecryptableKey("KEY_ENCRYPTION_KEYS is not set.")
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableKey("No key in KEY_ENCRYPTION_KEYS decrypts it.") from None


def reencrypt(token: str) -> str:
    """The same plaintext under the current (first) key-encryption key."""
    fernet = key_encryption()
    assert fernet is not None
    return fernet.rotate(token.encode()).decode()


def _forget(*, setting: str, **kwargs: object) -> None:
    if setting == "KEY_ENCRYPTION_KEYS":
        key_encryption.cache_clear()
    if setting == "APIKEY_ARGON2":
        hasher.cache_clear()


setting_changed.connect(_forget)
