"""Webhook signing (apikeys/webhooks.py: `sign`, `signature_is_valid`, `request_for`) against
fixed vectors computed here with the standard library, so a receiver following the README
can rely on every byte: the header's shape, what the MAC covers, the replay window's edges
and every malformed header."""

from __future__ import annotations

import hashlib
import hmac
import time
from types import SimpleNamespace
from typing import Any

import pytest

from apikeys import webhooks

SECRET = "whsec_test"
BODY = b'{"type":"key.created","data":{"id":"abc"}}'
T = 1_700_000_000


def mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_the_signature_header_is_the_time_and_a_sha256_hmac_of_time_dot_body() -> None:
    assert webhooks.sign(SECRET, T, BODY) == f"t={T},v1={mac(SECRET, T, BODY)}"
    # A fixed vector, so a change of algorithm or of what is covered cannot pass silently.
    assert webhooks.sign("k", 1, b"x") == (
        "t=1,v1=" + hmac.new(b"k", b"1.x", hashlib.sha256).hexdigest()
    )
    assert webhooks.SIGNATURE_HEADER == "A2V2-Signature"


@pytest.mark.parametrize("offset", [0, 1, -1, 299, -299, 300, -300])
def test_a_signature_within_the_window_is_valid(offset: int) -> None:
    header = webhooks.sign(SECRET, T, BODY)
    assert webhooks.signature_is_valid(SECRET, header, BODY, now=T + offset)


@pytest.mark.parametrize("offset", [301, -301, 300.5, -300.5, 10_000])
def test_a_signature_outside_the_window_is_a_replay(offset: float) -> None:
    header = webhooks.sign(SECRET, T, BODY)
    assert not webhooks.signature_is_valid(SECRET, header, BODY, now=T + offset)


def test_without_a_time_given_the_clock_is_used() -> None:
    now = int(time.time())
    assert webhooks.signature_is_valid(SECRET, webhooks.sign(SECRET, now, BODY), BODY)
    old = webhooks.sign(SECRET, now - 400, BODY)
    assert not webhooks.signature_is_valid(SECRET, old, BODY)
    assert not webhooks.signature_is_valid(SECRET, webhooks.sign(SECRET, now + 400, BODY), BODY)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={mac(SECRET, T, BODY)}",  # no time
        f"t=,v1={mac(SECRET, T, BODY)}",
        f"t=abc,v1={mac(SECRET, T, BODY)}",
        f"t={T}",  # no signature
        f"t={T},v1=",
        f"t={T},v0={mac(SECRET, T, BODY)}",  # another scheme
        f"t={T},v1={mac(SECRET, T, BODY)[:-1]}",
        f"t={T},v1={mac(SECRET, T, BODY).upper()}",
        f"t={T + 1},v1={mac(SECRET, T, BODY)}",  # the time is covered
        f"T={T},V1={mac(SECRET, T, BODY)}",
        f"t={T},v1={mac('other', T, BODY)}",
        f"t={T},v1={mac(SECRET, T, BODY + b' ')}",
    ],
)
def test_a_malformed_or_wrong_header_is_refused(header: str) -> None:
    assert not webhooks.signature_is_valid(SECRET, header, BODY, now=T)


def test_the_fields_may_come_in_any_order_and_carry_extra_ones() -> None:
    good = mac(SECRET, T, BODY)
    for header in (f"v1={good},t={T}", f"t={T},v0=abc,v1={good}", f"t={T},junk,v1={good}"):
        assert webhooks.signature_is_valid(SECRET, header, BODY, now=T), header
    # A value may itself hold "=": only the first one splits, and a later field of the same
    # name wins, so a field appended to a good header spoils it.
    assert not webhooks.signature_is_valid(SECRET, f"t={T},v1={good}=", BODY, now=T)
    assert not webhooks.signature_is_valid(SECRET, f"t={T},v1={good},v1=x=", BODY, now=T)
    assert not webhooks.signature_is_valid(SECRET, f"t={T},v1={good},t=1=", BODY, now=T)


def test_the_wrong_secret_or_body_is_refused() -> None:
    header = webhooks.sign(SECRET, T, BODY)
    assert not webhooks.signature_is_valid("whsec_other", header, BODY, now=T)
    assert not webhooks.signature_is_valid(SECRET, header, BODY[:-1], now=T)
    assert not webhooks.signature_is_valid(SECRET, header, b"", now=T)


def test_a_delivery_request_is_compact_json_with_its_headers_and_signature() -> None:
    payload: dict[str, Any] = {"type": "key.created", "data": {"id": "abc", "n": [1, 2]}}
    delivery = SimpleNamespace(
        pk=42,
        event=SimpleNamespace(payload=payload, type="key.created"),
        endpoint=SimpleNamespace(secret=SECRET),
    )
    body, headers = webhooks.request_for(delivery, T + 0.9)  # type: ignore[arg-type]
    assert body == b'{"type":"key.created","data":{"id":"abc","n":[1,2]}}'
    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": "A2V2-Webhooks/1",
        "A2V2-Event": "key.created",
        "A2V2-Delivery": "42",
        "A2V2-Signature": f"t={T},v1={mac(SECRET, T, body)}",
    }
    assert webhooks.signature_is_valid(SECRET, headers["A2V2-Signature"], body, now=T)
