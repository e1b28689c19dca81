"""A passkey in chromium, through its virtual authenticator (the DevTools protocol's
WebAuthn domain): added on Passkeys, then used after the password instead of a code, with
django-otp-webauthn's own scripts under the strict CSP (nothing in the console)."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from accounts import passkeys
from accounts.models import Agent, AuditEvent, User
from tests.accounts.test_two_factor import enrol
from tests.browser.conftest import log_in
from tests.browser.test_every_page import Watch
from tests.browser.test_front_door import sign_in_form, sign_out
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def virtual_authenticator(context: BrowserContext, page: Page) -> None:
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def test_a_passkey_is_added_and_then_used_after_the_password(
    context: BrowserContext, page: Page, live_server, owner: User, agent_a: Agent, settings
) -> None:
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    watch = Watch(page)  # axe-core on each step, and nothing in the console
    virtual_authenticator(context, page)
    log_in(page, owner)
    enrol(owner)

    page.goto("/account/")
    page.get_by_role("link", name="Passkeys").click()
    expect(page.get_by_role("heading", name="Passkeys", exact=True)).to_be_visible()
    watch.check("passkeys, none yet")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("button", name="Remove")).to_be_visible()  # listed after a reload
    assert passkeys.count_for(owner) == 1
    watch.check("passkeys, one added")
    sign_out(page)

    sign_in_form(page, owner.email, PASSWORD)
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    watch.check("code step with a passkey")
    page.get_by_role("button", name="Use a passkey").click()

    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert AuditEvent.objects.filter(user=owner, description="Signed in with a passkey").exists()
    watch.check("signed in with the passkey")
