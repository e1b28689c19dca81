"""Keeps credentials out of every log line: Django's, the task worker's and gunicorn's.

`RedactSecrets` is a logging filter. `a2v2.settings.LOGGING` puts it on every handler the
app logs through, and `a2v2/gunicorn.conf.py` on gunicorn's access and error logs. It
rewrites the finished message (and a traceback's text):

- any A2V2 key (`a2v2_<key id>_<secret+checksum>`) keeps its public key id and loses the
  rest: `a2v2_3kF9xQ2mL0pR7sT1_[REDACTED]`;
- the value of every query-string parameter that names a credential (`api_key=`,
  `x-api-secret=`, `token=` … in any case or percent-encoding) becomes `[REDACTED]`;
- `Authorization`, `X-API-Key`, `X-API-Secret`, `Cookie` and `X-CSRFToken` header values,
  wherever a line quotes them as `Name: value`.

Keys never belong in a URL (the API refuses them, 400), but a client that sends one anyway
must not leave it in our logs.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

REDACTED = "[REDACTED]"

# Query-string names that carry a credential. The API refuses a key under any of these
# (apikeys.verification); the rest are scrubbed for good measure.
SENSITIVE_PARAMETERS = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "key",
        "x-api-key",
        "x_api_key",
        "api_secret",
        "apisecret",
        "x-api-secret",
        "x_api_secret",
        "secret",
        "token",
        "access_token",
        "auth",
        "authorization",
        "bearer",
        "password",
        "csrfmiddlewaretoken",
        "sessionid",
    }
)
SENSITIVE_HEADERS = ("authorization", "x-api-key", "x-api-secret", "cookie", "x-csrftoken")

# `_` may arrive percent-encoded (%5F) in a URL.
_SEPARATOR = r"(?:_|%5[Ff])"
_KEY = re.compile(rf"a2v2{_SEPARATOR}([0-9A-Za-z]{{16}}){_SEPARATOR}[0-9A-Za-z]+")
_PARAMETER = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#\s\"'?]+)=(?P<value>[^&;#\s\"']*)")
# `X-API-Key: v`, `x_api_key=v`, `'HTTP_X_API_KEY': 'v'` (a request.META dump), …
_HEADER = re.compile(
    r"(?P<name>\b(?:http_)?(?:"
    + "|".join(re.escape(h).replace(r"\-", "[-_]") for h in SENSITIVE_HEADERS)
    + r"))(?P<sep>['\"]?\s*[:=]\s*['\"]?)(?P<value>(?:bearer\s+)?[^\s,;\"']+)",
    re.IGNORECASE,
)


def _parameter(match: re.Match[str]) -> str:
    name = unquote_plus(match["name"]).strip().lower()
    if name in SENSITIVE_PARAMETERS and match["value"]:
        return f"{match['lead']}{match['name']}={REDACTED}"
    return match[0]


def redact(text: str) -> str:
    """`text` without credentials (see the module's docstring)."""
    if not text:
        return text
    text = _KEY.sub(lambda m: f"a2v2_{m[1]}_{REDACTED}", text)
    if "=" in text:
        text = _PARAMETER.sub(_parameter, text)
    return _HEADER.sub(lambda m: f"{m['name']}{m['sep']}{REDACTED}", text)


class RedactSecrets(logging.Filter):
    """Rewrites each record's message (and its traceback text) through `redact()`. Never
    drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave it to the formatter to report
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
