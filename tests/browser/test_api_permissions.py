"""The seed page's steps, end to end in chromium: add a key through both steps, copy it,
use it against the API, edit it, delete it and see the API refuse it."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from accounts.models import Agent, User
from apikeys.models import ApiKey
from tests.browser.conftest import log_in
from tests.factories import make_key

pytestmark = pytest.mark.browser

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
Screenshot = Callable[[Page, str], None]


def call_me(base_url: str, full_key: str) -> int:
    """GET /v1/open/keys/me with the key, as an integration would; the status code."""
    request = urllib.request.Request(f"{base_url}/v1/open/keys/me", headers={"X-API-Key": full_key})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def clipboard(page: Page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def wait_for_clipboard(page: Page, expected: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while clipboard(page) != expected:
        assert time.monotonic() < deadline, "the key never reached the clipboard"
        page.wait_for_timeout(50)


def toast(page: Page, text: str):
    return page.locator("#toasts .toast", has_text=text)


def test_an_owner_walks_the_seed_from_empty_list_to_revoked_key(
    page: Page, live_server, owner: User, agent_a: Agent, screenshot: Screenshot
) -> None:
    log_in(page, owner)
    page.get_by_role("navigation", name="Agent").get_by_role("link", name="API Permissions").click()

    expect(page.get_by_role("heading", name="API Permission", exact=True)).to_be_visible()
    expect(
        page.get_by_text("Manage API keys and their permissions for external integrations.")
    ).to_be_visible()
    expect(page.get_by_text("No API keys yet.")).to_be_visible()

    # Step 1: an invalid IP first — the server's error shows inline, nothing typed is lost.
    add = page.get_by_role("link", name="Add API Key")
    add.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Step 1 of 2 — Enter basic information")).to_be_visible()
    name = dialog.get_by_label("Name")
    expect(name).to_be_focused()
    name.fill("Zapier")
    dialog.get_by_label("Description").fill("Pushes new leads from our forms into the CRM")
    dialog.get_by_label("IP Address").fill("999.1.1.1")
    dialog.get_by_role("button", name="Next").click()
    expect(dialog.get_by_text("'999.1.1.1' is not an IP address or CIDR range")).to_be_visible()
    expect(dialog.get_by_label("IP Address")).to_have_value("999.1.1.1")
    expect(dialog.get_by_label("IP Address")).to_be_focused()
    expect(name).to_have_value("Zapier")
    screenshot(page, "add-step-1")
    dialog.get_by_label("IP Address").fill("127.0.0.1, ::1")

    # Step 2, Back and Next again: both steps keep their values.
    dialog.get_by_role("button", name="Next").click()
    expect(dialog.get_by_text("Step 2 of 2 — Configure permissions")).to_be_visible()
    contacts = dialog.get_by_role("group", name="Contact Access")
    contacts.get_by_label("Read").check()
    expect(dialog.get_by_label("Requests per minute")).to_have_value("60")
    expect(dialog.get_by_label("Requests per hour")).to_have_value("1000")
    screenshot(page, "add-step-2")
    dialog.get_by_role("button", name="Back").click()
    expect(dialog.get_by_label("Name")).to_have_value("Zapier")
    expect(dialog.get_by_label("IP Address")).to_have_value("127.0.0.1, ::1")
    dialog.get_by_role("button", name="Next").click()
    expect(contacts.get_by_label("Read")).to_be_checked()
    expect(contacts.get_by_label("Create")).not_to_be_checked()

    dialog.get_by_role("button", name="Give Access").click()
    expect(dialog.get_by_text("API key created successfully.")).to_be_visible()
    shown = dialog.get_by_label("API key", exact=True)
    full_key = shown.input_value()
    assert re.fullmatch(r"a2v2_\w{16}_\w{38}", full_key)
    expect(dialog.get_by_role("button", name="Copy API Key")).to_be_focused()

    dialog.get_by_role("button", name="Copy API Key").click()
    # The toast shows above the modal's backdrop, inside the dialog (not inert behind it).
    expect(dialog.locator("#toasts .toast", has_text="API key copied to clipboard")).to_be_visible()
    assert clipboard(page) == full_key
    assert call_me(live_server.url, full_key) == 200

    # Done: the dialog closes, forgets the key, and focus goes back to Add API Key.
    dialog.get_by_role("link", name="Done").click()
    expect(dialog).to_be_hidden()
    expect(add).to_be_focused()
    assert full_key not in page.content()
    row = page.get_by_role("row", name=re.compile("Zapier"))
    expect(row.get_by_text("Contacts", exact=True)).to_be_visible()
    expect(row.get_by_text("Never used", exact=True)).to_be_visible()

    # The row's Copy API Key fetches the key again (audit-logged) straight to the clipboard.
    page.evaluate("navigator.clipboard.writeText('')")
    row.get_by_role("button", name="Copy API Key").click()
    wait_for_clipboard(page, full_key)
    assert full_key not in page.content()

    # Edit: one modal, same fields, list updated in place.
    row.get_by_role("link", name="Edit").click()
    expect(dialog.get_by_role("heading", name="Edit API Key")).to_be_visible()
    dialog.get_by_label("Name").fill("Zapier (production)")
    dialog.get_by_role("group", name="Document Extraction Access").get_by_label("Create").check()
    dialog.get_by_role("button", name="Save changes").click()
    expect(toast(page, "API key updated successfully.")).to_be_visible()
    expect(dialog).to_be_hidden()
    row = page.get_by_role("row", name=re.compile(r"Zapier \(production\)"))
    expect(row.get_by_text("Documents", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Edit Zapier (production)")).to_be_focused()
    assert call_me(live_server.url, full_key) == 200

    # Escape closes a dialog and gives focus back to the button that opened it.
    rotate = row.get_by_role("link", name="Rotate")
    rotate.click()
    expect(dialog.get_by_role("heading", name="Rotate API Key")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(rotate).to_be_focused()

    # Delete: the seed's warning, then the key is gone from the list and from the API.
    row.get_by_role("link", name="Delete").click()
    expect(dialog.get_by_text("will be permanently deleted")).to_be_visible()
    expect(dialog.get_by_text("Any applications using this key will lose access.")).to_be_visible()
    dialog.get_by_role("button", name="Delete API Key").click()
    expect(toast(page, "API key deleted.")).to_be_visible()
    expect(page.get_by_text("No API keys yet.")).to_be_visible()
    assert call_me(live_server.url, full_key) == 401
    assert not ApiKey.objects.exists()


def test_rotating_shows_the_new_key_and_the_old_one_stops_working(
    page: Page, live_server, admin: User, agent_a: Agent
) -> None:
    _, old_key = make_key(agent_a, "contacts_read", name="Billing backend")
    log_in(page, admin)
    page.goto(f"/agents/{agent_a.public_id}/api-permissions/")

    page.get_by_role("link", name="Rotate Billing backend").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("No grace period").check()
    dialog.get_by_role("button", name="Rotate key").click()

    expect(dialog.get_by_text("API key rotated successfully.")).to_be_visible()
    new_key = dialog.get_by_label("API key", exact=True).input_value()
    assert new_key != old_key
    assert call_me(live_server.url, new_key) == 200
    assert call_me(live_server.url, old_key) == 401


def test_the_list_flags_keys_that_need_attention(
    page: Page, live_server, owner: User, agent_a: Agent, screenshot: Screenshot
) -> None:
    now = timezone.now()
    old, _ = make_key(agent_a, "contacts_read", name="Legacy import script")
    ApiKey.objects.filter(pk=old.pk).update(
        created_at=now - timedelta(days=240), last_used_at=now - timedelta(days=130)
    )
    make_key(agent_a, name="Staging sandbox", description="Not wired up yet")
    billing, _ = make_key(
        agent_a,
        "contacts_read",
        "documents_create",
        "documents_read",
        name="Billing backend",
        description="Invoice extraction",
        expires_at=now + timedelta(days=9),
    )
    zapier, _ = make_key(
        agent_a,
        "contacts_create",
        "contacts_read",
        "contacts_update",
        name="Zapier",
        description="Pushes new leads into the CRM",
        ip_allowlist="192.168.1.1, 10.0.0.1",
    )
    ApiKey.objects.filter(pk=billing.pk).update(last_used_at=now - timedelta(hours=20))
    ApiKey.objects.filter(pk=zapier.pk).update(last_used_at=now - timedelta(minutes=3))

    log_in(page, owner)
    page.goto(f"/agents/{agent_a.public_id}/api-permissions/")

    legacy = page.get_by_role("row", name=re.compile("Legacy import script"))
    expect(legacy.get_by_text("Idle 90+ days")).to_be_visible()
    expect(
        page.get_by_role("row", name=re.compile("Staging sandbox")).get_by_text("No access")
    ).to_be_visible()
    staging = page.get_by_role("row", name=re.compile("Staging sandbox"))
    expect(staging.get_by_text("Never used", exact=True)).to_be_visible()
    expect(
        page.get_by_role("row", name=re.compile("Billing backend")).get_by_text("Expires soon")
    ).to_be_visible()
    expect(
        page.get_by_role("row", name=re.compile("Zapier")).get_by_text("3 minutes ago", exact=True)
    ).to_be_visible()
    screenshot(page, "list")


def test_a_phone_gets_the_desktop_only_notice(
    browser: Browser, live_server, owner: User, agent_a: Agent, screenshot: Screenshot
) -> None:
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 390, "height": 844},
        user_agent=IPHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    page = context.new_page()
    try:
        log_in(page, owner)
        page.goto(f"/agents/{agent_a.public_id}/api-permissions/")

        expect(page.get_by_role("heading", name="Desktop Only")).to_be_visible()
        expect(page.get_by_text("API Permissions is available on desktop only.")).to_be_visible()
        expect(page.get_by_role("link", name="Add API Key")).to_have_count(0)
        screenshot(page, "desktop-only")
    finally:
        context.close()


def test_a_narrow_desktop_window_gets_the_notice_by_css(
    page: Page, live_server, owner: User, agent_a: Agent
) -> None:
    make_key(agent_a, name="Zapier")
    log_in(page, owner)
    page.goto(f"/agents/{agent_a.public_id}/api-permissions/")
    notice = page.get_by_role("heading", name="Desktop Only")
    expect(notice).to_be_hidden()

    page.set_viewport_size({"width": 600, "height": 800})

    expect(notice).to_be_visible()
    expect(page.get_by_role("link", name="Add API Key")).to_be_hidden()
    expect(page.get_by_role("row", name=re.compile("Zapier"))).to_be_hidden()


def test_a_user_gets_a_clear_403_page(
    page: Page, live_server, member: User, agent_a: Agent
) -> None:
    log_in(page, member)
    page.get_by_role("navigation", name="Agent").get_by_role("link", name="API Permissions").click()

    expect(page.get_by_role("heading", name="You don't have access to this page")).to_be_visible()
    expect(page.get_by_text("Owner and Admins")).to_have_count(2)
    expect(page.get_by_role("link", name="Back to your agents")).to_be_visible()
