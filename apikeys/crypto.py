"""How key secrets are kept: a keyed hash to verify them, and (unless the deployment is
show-once) a copy encrypted under the key-encryption key(s) from the environment.

The hash is HMAC-SHA256 under a server-side hashing key (APIKEY_HASH_KEYS: the first
hashes, all verify). A secret has ~190 random bits, so a slow password hash would add no
protection against guessing, only cost (~150 ms per check with argon2id); the hashing key,
which is not in the database, is what makes a stolen table useless. The stored string
names its scheme and the hashing key that made it:

    hmac-sha256$<hashing key fingerprint: 8 hex>$<HMAC-SHA256(key id ":" secret): 64 hex>

Hashes written before (argon2id PHC strings, `$argon2id$…`) still verify and are
replaced on the key's next successful use (`Check.outdated`), as is a hash made under an
older hashing key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from typing import Any, NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

logger = logging.getLogger(__name__)

SCHEME = "hmac-sha256"
LEGACY_SCHEME = "$argon2"
MIN_HASH_KEY_LENGTH = 32
_DUMMY_DIGEST = "0" * 64


@dataclass(frozen=True)
class HashingKey:
    fingerprint: str  # names the key inside stored hashes; reveals nothing about it
    material: bytes

    @cached_property
    def _pads(self) -> tuple[Any, Any]:
        """SHA-256 already fed the key's inner and outer pads (RFC 2104): an HMAC is then
        two copies and two updates. OpenSSL's one-shot HMAC looks its algorithm up on every
        call, which cost ~10 µs of a request's CPU on a busy worker."""
        block = (
            self.material if len(self.material) <= 64 else hashlib.sha256(self.material).digest()
        )
        block = block.ljust(64, b"\0")
        inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in block))
        outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in block))
        return inner, outer

    def hmac_sha256(self, message: bytes) -> bytes:
        inner_pad, outer_pad = self._pads
        inner, outer = inner_pad.copy(), outer_pad.copy()
        inner.update(message)
        outer.update(inner.digest())
        return outer.digest()


class Check(NamedTuple):  # a NamedTuple: one is built on every Open API call
    matches: bool
    outdated: bool = False  # matched, but under argon2id or an older hashing key


def fingerprint(material: str) -> str:
    return hmac.new(material.encode(), b"a2v2 api key hashing key", hashlib.sha256).hexdigest()[:8]


@cache
def hashing_keys() -> tuple[HashingKey, ...]:
    """APIKEY_HASH_KEYS in order: the first hashes, every one verifies."""
    return tuple(HashingKey(fingerprint(m), m.encode()) for m in settings.APIKEY_HASH_KEYS)


def current_hashing_key() -> HashingKey:
    keys = hashing_keys()
    if not keys:
        raise ImproperlyConfigured("APIKEY_HASH_KEYS is not set (see manage.py check).")
    return keys[0]


def _digest(key: HashingKey, key_id: str, secret: str) -> str:
    # The key id is part of the message, so a hash copied onto another row verifies nothing.
    return key.hmac_sha256(f"{key_id}:{secret}".encode()).hex()


def current_prefix() -> str:
    """How every hash made under the current hashing key begins."""
    return f"{SCHEME}${current_hashing_key().fingerprint}$"


def hash_secret(key_id: str, secret: str) -> str:
    return current_prefix() + _digest(current_hashing_key(), key_id, secret)


def dummy_hash() -> str:
    """A well-formed hash no secret matches: what an unknown key id is checked against, so
    that it costs what a wrong secret costs."""
    return current_prefix() + _DUMMY_DIGEST


def check_secret(stored: str, key_id: str, secret: str) -> Check:
    """Whether `secret` is the one `stored` was made from, compared in constant time."""
    if stored.startswith(LEGACY_SCHEME):
        return Check(_argon2_matches(stored, secret), outdated=True)
    key, digest, outdated = _parsed(stored)
    if key is None:
        if stored:
            scheme = stored.partition("$")[0]
            logger.warning("An API key hash has an unknown scheme or hashing key (%s).", scheme)
        return Check(False)
    matches = hmac.compare_digest(_digest(key, key_id, secret), digest)
    return Check(matches, outdated=matches and outdated)


@lru_cache(maxsize=20_000)
def _parsed(stored: str) -> tuple[HashingKey | None, str, bool]:
    """A stored hash's hashing key (None when no hashing key of ours made it), digest and
    whether that key is an older one. Kept: the Open API checks the same few hashes on
    every call."""
    scheme, _, rest = stored.partition("$")
    key_fingerprint, _, digest = rest.partition("$")
    keys = hashing_keys()
    key = next((k for k in keys if k.fingerprint == key_fingerprint), None)
    if scheme != SCHEME or key is None:
        return None, "", False
    return key, digest, key != keys[0]


@cache
def _argon2() -> PasswordHasher:
    # Only to verify hashes stored before the keyed hash: the parameters come from the hash.
    return PasswordHasher()


def _argon2_matches(stored: str, secret: str) -> bool:
    try:
        return _argon2().verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False


def hash_state(stored: str) -> str:
    """ "current", "older hashing key", "argon2id" or "unknown": for the rehash report."""
    if stored.startswith(LEGACY_SCHEME):
        return "argon2id"
    scheme, _, rest = stored.partition("$")
    key_fingerprint = rest.partition("$")[0]
    fingerprints = [k.fingerprint for k in hashing_keys()]
    if scheme != SCHEME or key_fingerprint not in fingerprints:
        return "unknown"
    return "current" if key_fingerprint == fingerprints[0] else "older hashing key"


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
    if setting == "APIKEY_HASH_KEYS":
        hashing_keys.cache_clear()
        _parsed.cache_clear()


setting_changed.connect(_forget)
