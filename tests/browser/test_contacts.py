"""CRM → Contacts in a real browser: htmx search under the strict CSP, and Add Contact's
duplicate warning."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Agent, User
from contacts.models import Contact
from tests.browser.conftest import log_in
from tests.factories import ContactFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_search_updates_the_list_as_you_type(
    page: Page, owner: User, agent_a: Agent, screenshot: Callable[[Page, str], None]
) -> None:
    for name, email in [("Ann Lee", "ann@acme.test"), ("Bob Stone", "bob@acme.test")]:
        ContactFactory(agent=agent_a, name=name, email=email, gender="Female")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, owner)
    page.goto(f"/agents/{agent_a.public_id}/contacts/")
    expect(
        page.get_by_text("You have 2 contacts. Click any contact to view its details.")
    ).to_be_visible()
    screenshot(page, "contacts")
    page.get_by_label("Search contacts").press_sequentially("bo")
    expect(page.get_by_role("link", name="Ann Lee")).to_have_count(0)
    expect(page.get_by_role("link", name="Bob Stone")).to_be_visible()
    assert "q=bo" in page.url
    page.get_by_role("link", name="Bob Stone").click()
    expect(page.get_by_role("heading", name="Bob Stone")).to_be_visible()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_add_contact_warns_about_a_similar_person(
    page: Page, owner: User, agent_a: Agent, screenshot: Callable[[Page, str], None]
) -> None:
    ContactFactory(agent=agent_a, name="Ann Lee", email="ann@acme.test")
    log_in(page, owner)
    page.goto(f"/agents/{agent_a.public_id}/contacts/")
    page.get_by_role("link", name="Add Contact").click()
    page.get_by_label("Name").fill("Annie Lee")
    page.get_by_label("Primary email").fill("ANN@acme.test")
    page.get_by_role("button", name="Add Contact").click()
    expect(page.get_by_text("A user with similar details already exists")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("Annie Lee")
    screenshot(page, "contact-duplicate")
    page.get_by_role("button", name="Add anyway").click()
    expect(page.get_by_role("heading", name="Annie Lee")).to_be_visible()
    screenshot(page, "contact-detail")
    assert Contact.objects.filter(agent=agent_a, email="ann@acme.test").count() == 2
