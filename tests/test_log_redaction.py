"""a2v2/logging.py: no key, secret or credential-bearing query value survives a log line."""

from __future__ import annotations

import logging

import pytest

from a2v2.logging import RedactSecrets, redact
from apikeys import keyformat

KEY_ID = keyformat.new_key_id()
SECRET = keyformat.new_secret()
FULL = keyformat.compose(KEY_ID, SECRET)


@pytest.mark.parametrize(
    "line",
    [
        f'GET /v1/open/keys/me?api_key={FULL} HTTP/1.1" 400',
        f"GET /v1/open/keys/me?x=1&API_KEY={FULL}&y=2",
        f"GET /v1/open/keys/me?x%2Dapi%2Dkey={KEY_ID}&x-api-secret={SECRET}",
        f"GET /v1/open/keys/me?token={SECRET}",
        f"GET /v1/open/keys/me?access_token={SECRET};page=2",
        f"GET /v1/open/keys/me?q=a2v2%5F{KEY_ID}%5F{SECRET}",
        f"headers: Authorization: Bearer {FULL}",
        f"X-API-Key: {KEY_ID} X-API-Secret: {SECRET}",
        f"{{'HTTP_X_API_SECRET': '{SECRET}'}}".replace("HTTP_X_API_SECRET", "x-api-secret"),
        f"Cookie: sessionid={SECRET}",
        f"refused {FULL} for reasons",
    ],
)
def test_redact_removes_every_secret(line: str) -> None:
    cleaned = redact(line)
    assert SECRET not in cleaned, cleaned
    assert FULL not in cleaned
    assert "[REDACTED]" in cleaned


def test_redact_keeps_the_public_key_id_and_harmless_parameters() -> None:
    cleaned = redact(f"GET /v1/open/contacts?search=ann&page=2 key {FULL}")
    assert f"a2v2_{KEY_ID}_[REDACTED]" in cleaned
    assert "search=ann&page=2" in cleaned


def test_the_filter_rewrites_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "got %s", (FULL,), None)
    try:
        raise ValueError(f"bad key {FULL}")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactSecrets().filter(record) is True
    assert FULL not in record.getMessage()
    assert record.exc_text and SECRET not in record.exc_text


def test_the_configured_handlers_scrub(capsys: pytest.CaptureFixture[str]) -> None:
    from django.conf import settings

    assert "redact_secrets" in settings.LOGGING["handlers"]["console"]["filters"]
    logging.config.dictConfig(settings.LOGGING)
    logging.getLogger("apikeys").warning("client sent %s", FULL)
    logging.getLogger("django.server").info('"GET /?api_key=%s HTTP/1.1" 400', SECRET)
    err = capsys.readouterr().err
    assert "client sent a2v2_" in err and SECRET not in err
