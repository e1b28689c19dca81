"""The front door in chromium: a guessing run locked and slowed while the rightful user gets
in from elsewhere; two-factor enrolment, a code at sign-in, a recovery code used once; sudo
mode before Copy API Key; an invitation accepted by a new member; the member pages' matrix.

Client addresses are simulated as a deployment behind a proxy sees them: the live server is
a trusted proxy (TRUSTED_PROXIES) and each browser sends its own X-Forwarded-For.
"""

from __future__ import annotations

import re
from base64 import b32decode
from collections.abc import Callable

import pytest
from django.core import mail
from django_otp.oath import TOTP
from playwright.sync_api import Browser, BrowserContext, Page, expect

from accounts.models import Agent, AuditEvent, Membership, Role, User
from apikeys.models import ApiKey
from tests.browser.conftest import DESKTOP, log_in
from tests.browser.test_api_permissions import wait_for_clipboard
from tests.factories import PASSWORD, make_key

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], None]


@pytest.fixture
def behind_proxy(settings) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.0/8", "::1/128"]


def browser_at(browser: Browser, live_server, address: str) -> BrowserContext:
    return browser.new_context(
        viewport=DESKTOP,
        base_url=live_server.url,
        extra_http_headers={"X-Forwarded-For": address},
    )


def sign_in_form(page: Page, email: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to A2V2")).to_be_visible()


def test_a_guessing_run_is_stopped_while_the_rightful_user_gets_in(
    browser: Browser, live_server, behind_proxy: None, owner: User, agent_a: Agent, settings
) -> None:
    settings.LOGIN_ACCOUNT_FREE_FAILURES = 6
    rightful = browser_at(browser, live_server, "203.0.113.20")
    attacker = browser_at(browser, live_server, "192.0.2.66")
    try:
        # The owner signed in from their own browser last week.
        own = rightful.new_page()
        sign_in_form(own, owner.email, PASSWORD)
        expect(own.get_by_role("button", name="Sign out")).to_be_visible()
        sign_out(own)

        # One address guesses: four answers say the pair don't match, the fifth locks it.
        guesser = attacker.new_page()
        for n in range(4):
            sign_in_form(guesser, owner.email, f"Summer2026-{n}")
            expect(guesser.get_by_role("alert")).to_have_text(
                "That email and password don't match. Check them and try again."
            )
        sign_in_form(guesser, owner.email, "Summer2026-4")
        lock = "Too many failed sign-in attempts. Try again in 15 minutes, or reset your password."
        expect(guesser.get_by_role("alert")).to_have_text(lock)
        # Locked means locked: even the right password is not checked from there.
        sign_in_form(guesser, owner.email, PASSWORD)
        expect(guesser.get_by_role("alert")).to_have_text(lock)

        # The guess moves to other addresses: none is locked, but each next attempt at the
        # account must wait longer (1, 2, 4 … s) — soon faster than anyone types.
        answers: list[str] = []
        for n in range(8):
            spread = browser_at(browser, live_server, f"198.51.100.{n + 1}")
            page = spread.new_page()
            sign_in_form(page, owner.email, f"Winter2026-{n}")
            answers.append(page.get_by_role("alert").inner_text())
            spread.close()
            if "slowed down" in answers[-1]:
                break
        assert answers[-1].startswith(
            "This account has had many failed sign-in attempts, so sign-ins to it are slowed "
            "down. Try again in "
        ), answers
        assert lock not in answers

        # The rightful user, elsewhere, with the right password, gets in at once.
        sign_in_form(own, owner.email, PASSWORD)
        expect(own.get_by_role("button", name="Sign out")).to_be_visible()

        owner_page = own
        owner_page.goto(f"/agents/{agent_a.public_id}/audit-logs/")
        table = owner_page.locator("#events")
        expect(table.get_by_text("Sign-in failed: wrong password").first).to_be_visible()
        expect(
            table.get_by_text(
                "Sign-in locked for 15 minutes after too many failed attempts from 192.0.2.66"
            )
        ).to_be_visible()
        # The Owner lifts the lock from the members page.
        owner_page.get_by_role("link", name="Members & roles").click()
        row = owner_page.get_by_role("row", name=re.compile(owner.email))
        expect(row.get_by_text("Sign-in locked")).to_be_visible()
        row.get_by_role("button", name=f"Unlock {owner.email} from 192.0.2.66").click()
        expect(owner_page.locator("#toasts .toast", has_text="can sign in again")).to_be_visible()
        expect(row.get_by_text("Sign-in locked")).to_have_count(0)
    finally:
        rightful.close()
        attacker.close()


def code_from_setup_key(page: Page, steps_ahead: int = 0) -> str:
    """What the authenticator app shows, computed from the key printed under the QR code."""
    secret = page.locator("#setup-key").inner_text().replace(" ", "")
    key = b32decode(secret + "=" * (-len(secret) % 8))
    return f"{TOTP(key, drift=steps_ahead).token():06d}"


def test_two_factor_enrolment_a_code_at_sign_in_and_a_recovery_code_once(
    page: Page, live_server, owner: User, agent_a: Agent, screenshot: Screenshot
) -> None:
    log_in(page, owner)
    page.get_by_role("link", name=owner.email).click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_role("link", name="Set up two-factor").click()

    expect(page.get_by_role("img", name="QR code to scan")).to_be_visible()
    page.get_by_text("Can't scan it? Enter this key instead").click()
    page.get_by_label("Code from the app").fill("000000")
    page.get_by_role("button", name="Turn on two-factor").click()
    expect(page.get_by_text("That code didn't work.")).to_be_visible()
    page.wait_for_timeout(1100)  # django-otp waits a second after a wrong code
    page.get_by_text("Can't scan it? Enter this key instead").click()
    page.get_by_label("Code from the app").fill(code_from_setup_key(page))
    page.get_by_role("button", name="Turn on two-factor").click()

    expect(page.get_by_role("heading", name="Two-factor authentication is on")).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I've saved my codes").click()
    sign_out(page)

    # Sign in: the password, then the code.
    device = owner.totpdevice_set.get()
    sign_in_form(page, owner.email, PASSWORD)
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    code = page.get_by_label("Authentication code")
    expect(code).to_be_focused()
    screenshot(page, "two-factor-prompt")
    code.fill(f"{TOTP(device.bin_key, drift=1).token():06d}")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    sign_out(page)

    # A recovery code instead of the app: once.
    sign_in_form(page, owner.email, PASSWORD)
    page.get_by_label("Authentication code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("You signed in with a recovery code; 9 left.")).to_be_visible()
    sign_out(page)
    sign_in_form(page, owner.email, PASSWORD)
    page.get_by_label("Authentication code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code didn't work.")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_copy_api_key_asks_for_the_password_first_then_copies(
    page: Page, live_server, owner: User, agent_a: Agent, settings
) -> None:
    _, full_key = make_key(agent_a, "contacts_read", name="Zapier")
    log_in(page, owner)
    settings.SUDO_MODE_MINUTES = 0  # the sign-in's confirmation has lapsed
    page.goto(f"/agents/{agent_a.public_id}/api-permissions/")
    page.evaluate("navigator.clipboard.writeText('')")

    row = page.get_by_role("row", name=re.compile("Zapier"))
    row.get_by_role("button", name="Copy API Key").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Confirm access")).to_be_visible()
    assert not AuditEvent.objects.filter(description__startswith="Revealed").exists()
    password = dialog.get_by_label("Password")
    expect(password).to_be_focused()
    password.fill("not my password")
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog.get_by_text("That password isn't right.")).to_be_visible()
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Confirm").click()

    # The reveal goes on: the key in the modal, and Copy API Key copies it.
    expect(dialog.get_by_role("heading", name="Copy API Key")).to_be_visible()
    expect(dialog.get_by_label("API key")).to_have_value(full_key)
    dialog.get_by_role("button", name="Copy API Key").click()
    wait_for_clipboard(page, full_key)
    assert AuditEvent.objects.filter(
        description="Confirmed password for a sensitive action"
    ).exists()
    assert AuditEvent.objects.filter(description='Revealed API key "Zapier"').exists()

    # Opening Add API Key asks first too (the confirmation lapses at once here), then
    # the modal goes on to Step 1.
    dialog.get_by_role("link", name="Done").click()
    page.get_by_role("link", name="Add API Key").click()
    expect(dialog.get_by_role("heading", name="Confirm access")).to_be_visible()
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog.get_by_text("Step 1 of 2 — Enter basic information")).to_be_visible()
    expect(dialog.get_by_label("Name")).to_be_focused()


def test_an_invited_member_joins_and_sees_what_their_role_allows(
    browser: Browser,
    page: Page,
    live_server,
    owner: User,
    admin: User,
    agent_a: Agent,
    screenshot: Screenshot,
) -> None:
    make_key(agent_a, "contacts_read", name="Zapier")
    log_in(page, owner)
    page.get_by_role("navigation", name="Agent").get_by_role("link", name="Members & roles").click()
    expect(page.get_by_role("heading", name="Members & roles")).to_be_visible()
    expect(page.get_by_text("Control who on your team can manage the workspace.")).to_be_visible()

    page.get_by_role("link", name="Invite member").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Invite member")).to_be_visible()
    dialog.get_by_label("Email").fill(admin.email)
    dialog.get_by_role("button", name="Send invitation").click()
    expect(dialog.get_by_text(f"{admin.email} is already a member of Acme.")).to_be_visible()
    dialog.get_by_label("Email").fill("sam@acme.test")
    dialog.get_by_label("User", exact=True).check()
    dialog.get_by_role("button", name="Send invitation").click()
    expect(
        page.locator("#toasts .toast", has_text="Invitation sent to sam@acme.test.")
    ).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("sam@acme.test"))).to_be_visible()
    screenshot(page, "members")

    link = re.search(r"https?://\S+/invitations/\S+/", mail.outbox[-1].body).group(0)
    newcomer = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    try:
        joining = newcomer.new_page()
        joining.goto(link)
        expect(joining.get_by_role("heading", name="Join Acme")).to_be_visible()
        joining.get_by_label("Your name").fill("Sam Rivera")
        joining.get_by_label("Password", exact=True).fill("sam")
        joining.get_by_label("Confirm password").fill("sam")
        joining.get_by_role("button", name="Create account and join").click()
        expect(joining.get_by_text("This password is too short.")).to_be_visible()
        joining.get_by_label("Password", exact=True).fill("tidal lantern orchard 42")
        joining.get_by_label("Confirm password").fill("tidal lantern orchard 42")
        joining.get_by_role("button", name="Create account and join").click()

        # A User: contacts yes; API keys and the workspace settings no.
        expect(joining.get_by_text("Welcome to Acme.")).to_be_visible()
        expect(joining.get_by_role("heading", name="Contacts")).to_be_visible()
        nav = joining.get_by_role("navigation", name="Agent")
        expect(nav.get_by_role("link", name="Members & roles")).to_have_count(0)
        nav.get_by_role("link", name="API Permissions").click()
        expect(
            joining.get_by_role("heading", name="You don't have access to this page")
        ).to_be_visible()
        joining.goto(f"/agents/{agent_a.public_id}/members/")
        expect(joining.get_by_text("403")).to_be_visible()
        assert Membership.objects.get(user__email="sam@acme.test").role == Role.USER
        # The same link does not work twice.
        joining.goto(link)
        expect(joining.get_by_role("heading", name="This invitation doesn't work")).to_be_visible()
    finally:
        newcomer.close()

    page.reload()
    expect(page.get_by_role("row", name=re.compile("Sam Rivera"))).to_be_visible()
    assert not ApiKey.objects.filter(name="Sam").exists()


def test_the_member_pages_answer_403_to_users_and_404_to_strangers(
    page: Page, live_server, member: User, stranger: User, agent_a: Agent
) -> None:
    log_in(page, member)
    for path in ("members/", "agents/"):
        response = page.goto(f"/agents/{agent_a.public_id}/{path}")
        assert response is not None and response.status == 403
        expect(
            page.get_by_role("heading", name="You don't have access to this page")
        ).to_be_visible()
    sign_out(page)
    log_in(page, stranger)
    for path in ("members/", "agents/"):
        response = page.goto(f"/agents/{agent_a.public_id}/{path}")
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
