"""The API key string: `a2v2_<key id>_<secret><checksum>`.

- `a2v2_` is a fixed prefix, so secret scanners can recognise a leaked key.
- The key id (16 base62 characters) is public: it names the key in URLs, logs and audit
  events, and is what the two-header form sends as `X-API-Key`.
- The secret (32 base62 characters, about 190 bits from `secrets`) is what proves
  possession; only its keyed hash (HMAC-SHA256, apikeys/crypto.py) and, unless show-once,
  an encrypted copy are stored.
- The checksum (6 base62 characters of CRC32 over everything before it) lets the server
  reject a mistyped or made-up key without touching the database.

`_` separates the parts because a double click selects the whole token.
"""

from __future__ import annotations

import re
import secrets
import string
import zlib
from typing import NamedTuple

PREFIX = "a2v2"
ALPHABET = string.digits + string.ascii_letters
KEY_ID_LENGTH = 16
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6

_B62 = f"[{re.escape(ALPHABET)}]"
FULL_KEY = re.compile(
    rf"^{PREFIX}_(?P<key_id>{_B62}{{{KEY_ID_LENGTH}}})_"
    rf"(?P<secret>{_B62}{{{SECRET_LENGTH}}})(?P<checksum>{_B62}{{{CHECKSUM_LENGTH}}})$"
)
KEY_ID = re.compile(rf"^(?:{PREFIX}_)?(?P<key_id>{_B62}{{{KEY_ID_LENGTH}}})$")
SECRET = re.compile(rf"^{_B62}{{{SECRET_LENGTH}}}$")


class MalformedKey(ValueError):
    pass


class PresentedKey(NamedTuple):
    """What a client sent, already checked for shape (but not yet for truth). A NamedTuple:
    one is built on every Open API call."""

    key_id: str
    secret: str


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


# Every two-digit base62 string by value: a checksum is three lookups, not six divisions
# (it is computed on every Open API call).
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62 * 62)
        digits.append(_PAIRS[rest])
    return "".join(reversed(digits)).lstrip("0").rjust(width, "0")


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def new_key_id() -> str:
    return _random(KEY_ID_LENGTH)


def new_secret() -> str:
    return _random(SECRET_LENGTH)


def compose(key_id: str, secret: str) -> str:
    body = f"{PREFIX}_{key_id}_{secret}"
    return body + checksum(body)


def parse_full_key(value: str) -> PresentedKey:
    value = value.strip()
    match = FULL_KEY.match(value)
    if match is None:
        raise MalformedKey("The API key is malformed.")
    body = value[:-CHECKSUM_LENGTH]
    if not secrets.compare_digest(checksum(body), match["checksum"]):
        raise MalformedKey("The API key is malformed (checksum mismatch).")
    return PresentedKey(match["key_id"], match["secret"])


def parse_key_id_and_secret(key_id: str, secret: str) -> PresentedKey:
    """The A2V2 two-header form: `X-API-Key: <key id>` with `X-API-Secret: <secret>`."""
    id_match = KEY_ID.match(key_id.strip())
    secret = secret.strip()
    if id_match is None or SECRET.match(secret) is None:
        raise MalformedKey("The API key id or secret is malformed.")
    return PresentedKey(id_match["key_id"], secret)
