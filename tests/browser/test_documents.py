"""A document's page in a real browser: a field outlines where it was read on the page
picture (under the strict CSP), and an Owner corrects a value in place."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Agent, AuditAction, AuditEvent, User
from extraction.models import Document
from tests.browser.conftest import log_in
from tests.extraction.test_pages import reviewed_document

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def box_of(page: Page, selector: str) -> dict:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box


def test_a_field_outlines_its_source_and_is_corrected_in_place(
    page: Page, owner: User, agent_a: Agent, screenshot: Callable[[Page, str], None]
) -> None:
    document = reviewed_document(agent_a)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, owner)
    page.goto(f"/agents/{agent_a.public_id}/documents/{document.public_id}/")
    picture = page.get_by_role("img", name="Page 1")
    expect(picture).to_be_visible()
    expect(picture).to_have_js_property("complete", True)
    outline = page.locator(".source-outline")
    expect(outline).to_be_hidden()

    # Pointing at the row outlines the number's line on the picture, scaled to it.
    row = page.locator("#field-invoice_number")
    row.hover()
    expect(outline).to_be_visible()
    image, drawn = box_of(page, ".page-frame img"), box_of(page, ".source-outline")
    scale = image["width"] / 595
    field = document.field("invoice_number")
    x0, y0, x1, y1 = field["source"]["box"]
    assert abs(drawn["x"] - (image["x"] + x0 * scale)) < 6
    assert abs(drawn["y"] - (image["y"] + y0 * scale)) < 6
    assert abs(drawn["width"] - (x1 - x0) * scale) < 10
    assert abs(drawn["height"] - (y1 - y0) * scale) < 10
    screenshot(page, "document-field-source")

    # Leaving hides it; moving to a row with the keyboard shows it again.
    page.get_by_role("heading", name="Fields").hover()
    expect(outline).to_be_hidden()
    page.locator("#field-amount").focus()
    expect(outline).to_be_visible()

    # Correct in place.
    page.get_by_role("link", name="Correct invoice_number").click()
    value = page.get_by_label("invoice_number", exact=True)
    expect(value).to_have_value("INV-2024-117")
    value.fill("INV-2024-118")
    screenshot(page, "document-field-correct")
    page.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("INV-2024-118")
    expect(row).to_contain_text("Corrected")
    expect(page.get_by_role("link", name="Correct invoice_number")).to_be_focused()
    assert Document.objects.get(pk=document.pk).corrections == {"invoice_number": "INV-2024-118"}
    assert AuditEvent.objects.filter(
        action=AuditAction.UPDATE, description="Corrected fields: invoice_number"
    ).exists()

    # Escape leaves the form without saving.
    page.get_by_role("link", name="Correct amount").click()
    page.get_by_label("amount", exact=True).fill("0")
    page.keyboard.press("Escape")
    expect(page.locator("#field-amount")).to_contain_text("1.279,84")
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_users_see_the_source_but_cannot_correct(page: Page, member: User, agent_a: Agent) -> None:
    document = reviewed_document(agent_a)
    log_in(page, member)
    page.goto(f"/agents/{agent_a.public_id}/documents/{document.public_id}/")
    page.locator("#field-date").hover()  # perhaps before the picture has loaded
    expect(page.locator(".source-outline")).to_be_visible()
    expect(page.get_by_role("link", name="Correct date")).to_have_count(0)
