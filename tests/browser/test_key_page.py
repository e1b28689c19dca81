"""A key's page in chromium: its usage, the least-privilege suggestion and its removal, and a
rotation watched while the old secret is still in use, then ended."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Agent, User
from apikeys import usage
from apikeys.models import ApiKey, KeyUsage, UsageOutcome
from tests.browser.conftest import log_in
from tests.browser.test_every_page import Watch
from tests.factories import make_key

pytestmark = pytest.mark.browser
Screenshot = Callable[[Page, str], None]


def call(base_url: str, full_key: str, path: str, method: str = "GET") -> int:
    request = urllib.request.Request(
        f"{base_url}{path}", headers={"X-API-Key": full_key}, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


HISTORY_SERVED = 4 * 120


def history(key: ApiKey) -> None:
    """The days before today, as a month of flushes would have left them."""
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    for day in range(1, 5):
        hour = start - timedelta(days=day)
        KeyUsage.objects.create(
            key=key, hour=hour, outcome=UsageOutcome.SERVED, permission="contacts:read", calls=120
        )
        KeyUsage.objects.create(key=key, hour=hour, outcome=UsageOutcome.RATE_LIMIT, calls=day * 7)


def test_key_page_suggestion_and_a_watched_rotation(
    page: Page, live_server, owner: User, agent_a: Agent, screenshot: Screenshot
) -> None:
    watch = Watch(page)
    key, full = make_key(
        agent_a, "contacts_read", "contacts_update", "contacts_delete", name="CRM sync"
    )
    ApiKey.objects.filter(pk=key.pk).update(created_at=timezone.now() - timedelta(days=45))
    contacts = f"/v1/open/contacts/chatbots/{agent_a.public_id}"
    for _ in range(6):
        assert call(live_server.url, full, contacts) == 200
    assert call(live_server.url, full, contacts, "POST") == 403  # no contacts:create
    usage.flush()
    history(key)

    log_in(page, owner)
    page.goto(f"/agents/{agent_a.public_id}/api-permissions/")
    row = page.get_by_role("row", name=re.compile("CRM sync"))
    expect(row.get_by_text("Unused permissions")).to_be_visible()
    row.get_by_role("link", name="CRM sync", exact=True).click()

    expect(page.get_by_role("heading", name="CRM sync", level=1)).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Calls per hour"))).to_be_visible()
    expect(page.locator(".totals")).to_contain_text("6 served · 1 refused")
    expect(page.locator("#refusals")).to_contain_text("Missing permission")
    expect(page.locator("#addresses")).to_contain_text("127.0.0.1")
    expect(page.locator("#last-used")).to_contain_text("GET /v1/open/contacts/chatbots/{agent_id}")
    watch.check("key page")
    page.get_by_role("link", name="Last 7 days").click()
    expect(page.get_by_role("img", name=re.compile("Calls per day"))).to_be_visible()
    expect(page.locator(".totals")).to_contain_text(f"{6 + HISTORY_SERVED} served")
    watch.check("key page, 7 days")
    suggestion = page.locator("#least-privilege")
    expect(suggestion).to_contain_text("Contact Access: Update")
    expect(suggestion).to_contain_text("Contact Access: Delete")
    screenshot(page, "key-page")

    suggestion.get_by_role("link", name="Remove unused permissions").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("not been used for 30 days")
    watch.check("remove unused permissions dialog")
    dialog.get_by_role("button", name="Remove permissions").click()
    expect(page.locator("#toasts")).to_contain_text("Unused permissions removed.")
    expect(page.get_by_role("link", name="Remove unused permissions")).to_have_count(0)
    # Any address allowed, only 127.0.0.1 seen: narrowing the allowlist is still suggested.
    expect(page.locator("#least-privilege")).to_contain_text("Narrow to 127.0.0.1")
    key.refresh_from_db()
    assert key.contacts_read and not key.contacts_update and not key.contacts_delete

    # Rotate with a 24-hour grace; the integration keeps calling with the old secret.
    page.get_by_role("link", name="Rotate").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("24 hours").check()
    expect(
        dialog.get_by_label("Start the grace period at the new key's first use")
    ).not_to_be_checked()
    watch.check("rotate dialog")
    dialog.get_by_role("button", name="Rotate key").click()
    new = page.locator("#shown-key").input_value()
    assert new.startswith(f"a2v2_{key.key_id}_") and new != full
    assert call(live_server.url, full, contacts) == 200
    assert call(live_server.url, full, contacts) == 200
    usage.flush()
    page.get_by_role("link", name="Done").click()

    grace = page.locator("#grace")
    expect(grace).to_contain_text("Rotation in progress")
    expect(page.locator("#old-secret-calls")).to_have_text("2")
    expect(grace).to_contain_text("127.0.0.1")
    expect(page.locator("#rotations")).to_contain_text("24 hours")
    screenshot(page, "key-page-rotation")
    watch.check("key page during a grace period")

    grace.get_by_role("link", name="End grace now").click()
    expect(page.get_by_role("dialog")).to_contain_text("stops working at once")
    watch.check("end grace dialog")
    page.get_by_role("dialog").get_by_role("button", name="End grace now").click()
    expect(page.locator("#toasts")).to_contain_text("Grace period ended.")
    expect(page.locator("#grace")).to_have_count(0)
    expect(page.locator("#rotations")).to_contain_text("ended early")
    assert call(live_server.url, full, contacts) == 401
    assert call(live_server.url, new, contacts) == 200
