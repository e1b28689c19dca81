"""Webhooks in chromium: an admin adds an endpoint (a receiver in this test), copies its
secret, rotates a key, and the receiver gets the event with a signature that checks out;
the delivery log shows it delivered."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Agent, User
from tests.browser.conftest import log_in
from tests.factories import make_key
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.browser


def receiver_accepts(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """README "Checking the signature", copied as a receiver would."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in fields or "v1" not in fields or not fields["t"].isdigit():
        return False
    if abs(time.time() - int(fields["t"])) > tolerance:
        return False  # too old (or from the future): a replay
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields["v1"])


def test_an_admin_adds_an_endpoint_and_a_rotation_reaches_it_signed(
    page: Page, live_server, settings, admin: User, agent_a: Agent, receiver: Receiver, screenshot
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True  # the receiver listens on 127.0.0.1
    make_key(agent_a, "contacts_read", name="Billing backend")
    log_in(page, admin)
    page.goto(f"/agents/{agent_a.public_id}/api-permissions/")

    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    expect(page.get_by_text("No endpoints yet.")).to_be_visible()
    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_label("Description").fill("Our ops alerts")
    page.get_by_label("Key created").uncheck()
    page.get_by_role("button", name="Add endpoint").click()

    expect(page.get_by_text(f"Webhook endpoint added for {receiver.url}.")).to_be_visible()
    secret = page.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    page.get_by_role("button", name="Copy signing secret").click()
    expect(page.get_by_text("Signing secret copied to clipboard")).to_be_visible()
    screenshot(page, "webhooks")

    page.get_by_role("link", name="Back to API keys").click()
    page.get_by_role("link", name="Rotate Billing backend").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("24 hours").check()
    dialog.get_by_role("button", name="Rotate key").click()
    expect(dialog.get_by_text("API key rotated successfully.")).to_be_visible()

    [received] = receiver.wait_for(1)
    assert received.headers["A2V2-Event"] == "key.rotated"
    assert receiver_accepts(secret, received.headers["A2V2-Signature"], received.body)
    assert not receiver_accepts(secret, received.headers["A2V2-Signature"], received.body + b"x")
    assert received.json["data"]["key"]["name"] == "Billing backend"

    page.goto(f"/agents/{agent_a.public_id}/api-permissions/webhooks/")
    log = page.get_by_role("table", name="The last 1 webhook deliveries, newest first")
    row = log.get_by_role("row").nth(1)
    expect(row).to_contain_text("key.rotated")
    expect(row).to_contain_text("Delivered")
    expect(row).to_contain_text("200")

    page.get_by_role("button", name=f"Send a test event to {receiver.url}").click()
    expect(page.get_by_text("Test event queued")).to_be_visible()
    assert receiver.wait_for(2)[1].json["type"] == "ping"
    screenshot(page, "webhooks-log")
