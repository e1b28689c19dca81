"""Every admin page and every modal step in chromium: axe-core finds no violation and the
console stays clean (no CSP report, no error, no failed request); and the layout details a
new admin notices — the keys table at every desktop width, phones, tablets, toasts, the
login card, documents that update themselves, modal footers that tab in visual order."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from accounts.models import Agent, AuditAction, AuditEvent, User
from apikeys.models import ApiKey
from extraction.models import Document
from tests.browser.conftest import log_in
from tests.extraction.test_jobs import make_document
from tests.factories import ContactFactory, make_key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
AXE = Axe()


class Watch:
    """What a page says to its console and which of its requests fail."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} {response.url}")

    @staticmethod
    def _expected(problem: str, status: int) -> bool:
        """A status the step means to get (422 for a form with errors, 403, 404): the
        response itself and chromium's "Failed to load resource" note about it."""
        note = "console error: Failed to load resource: the server responded with a status of"
        return problem.startswith((f"{status} ", f"{note} {status}"))

    def check(self, step: str, *, expected: tuple[int, ...] = ()) -> None:
        """axe finds nothing on the page as it is now, and nothing went to the console."""
        results = AXE.run(self.page)
        assert results.violations_count == 0, f"{step}:\n{results.generate_report()}"
        problems = [p for p in self.problems if not any(self._expected(p, s) for s in expected)]
        assert not problems, f"{step}: {problems}"
        self.problems.clear()


@pytest.fixture
def watch(page: Page) -> Watch:
    return Watch(page)


@pytest.fixture
def workspace(agent_a: Agent, owner: User) -> dict[str, Any]:
    now = timezone.now()
    zapier, _ = make_key(
        agent_a, "contacts_create", "contacts_read", "documents_read", name="Zapier",
        description="Pushes new leads from our web forms into the CRM every few minutes",
        ip_allowlist="192.168.1.1, 10.0.0.1", expires_at=now + timedelta(days=5),
    )  # fmt: skip
    ApiKey.objects.filter(pk=zapier.pk).update(last_used_at=now, exposed_at=now)
    gone, _ = make_key(agent_a, "contacts_read", name="Old import script")
    ApiKey.objects.filter(pk=gone.pk).update(
        expires_at=now - timedelta(days=1), created_at=now - timedelta(days=200)
    )
    make_key(agent_a, name="A key with a rather long name for a narrow window")
    contact = ContactFactory(agent=agent_a, name="Ann Lee", email="ann@example.com")
    failed = make_document(agent_a)
    failed.claim("test-worker")
    failed.fail(
        "corrupt",
        "The PDF is damaged and cannot be opened. Failed to load document.",
        "test-worker",
    )
    done = make_document(agent_a)
    done.claim("test-worker")
    done.succeed(
        {
            "pages": [{"number": 1, "text": "Invoice number: INV-1", "width": None,
                       "height": None, "method": "text-layer"}],
            "fields": [{"name": "invoice_number", "value": "INV-1", "normalized": "INV-1",
                        "confidence": 0.9, "source": {"page": 1, "box": None, "text": "INV-1"}}],
        },
        "test-worker",
    )  # fmt: skip
    zapier.record(AuditAction.UPDATE, 'Updated API key "Zapier"', actor=owner.email)
    return {"key": zapier, "contact": contact, "document": done, "failed": failed}


def agent_url(agent: Agent, rest: str = "") -> str:
    return f"/agents/{agent.public_id}/{rest}"


def test_every_page_and_modal_step_is_accessible_with_a_clean_console(
    page: Page, watch: Watch, owner: User, agent_a: Agent, workspace: dict[str, Any]
) -> None:
    page.goto("/login/")
    watch.check("login")
    log_in(page, owner)
    watch.check("home")

    # API Permissions and every step of its modals.
    page.goto(agent_url(agent_a, "api-permissions/"))
    watch.check("keys list")
    dialog = page.get_by_role("dialog")
    page.get_by_role("link", name="Add API Key").click()
    expect(dialog.get_by_text("Step 1 of 2")).to_be_visible()
    watch.check("add, step 1")
    dialog.get_by_label("Name").fill("Billing")
    dialog.get_by_label("IP Address").fill("999.1.1.1, abc")
    dialog.get_by_role("button", name="Next").click()
    expect(dialog.get_by_text("are not IP addresses or CIDR ranges")).to_be_visible()
    watch.check("add, step 1 with an error", expected=(422,))
    dialog.get_by_label("IP Address").fill("")
    dialog.get_by_role("button", name="Next").click()
    expect(dialog.get_by_text("Step 2 of 2")).to_be_visible()
    watch.check("add, step 2")
    dialog.get_by_label("Requests per minute").fill("500")
    dialog.get_by_label("Requests per hour").fill("100")
    dialog.get_by_role("button", name="Give Access").click()
    expect(dialog.get_by_text("cannot be higher than the per-hour limit")).to_be_visible()
    watch.check("add, step 2 with an error", expected=(422,))
    dialog.get_by_label("Requests per hour").fill("1000")
    dialog.get_by_role("button", name="Give Access").click()
    expect(dialog.get_by_text("API key created successfully.")).to_have_count(1)
    expect(page.locator("#toasts .toast")).to_have_count(0)
    watch.check("key shown")
    dialog.get_by_role("link", name="Done").click()
    for action, heading in (("Edit", "Edit API Key"), ("Rotate", "Rotate API Key"),
                            ("Delete", "Delete API Key")):  # fmt: skip
        page.get_by_role("link", name=f"{action} Zapier").click()
        expect(dialog.get_by_role("heading", name=heading)).to_be_visible()
        watch.check(f"{action.lower()} dialog")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
    page.get_by_role("link", name="Edit Zapier").click()
    dialog.get_by_role("button", name="Save changes").click()
    expect(page.locator("#toasts .toast", has_text="API key updated successfully.")).to_be_visible()
    watch.check("after an edit (htmx swap of the table)")

    # CRM and Settings pages.
    contact = workspace["contact"]
    document = workspace["document"]
    for label, url in (
        ("contacts", agent_url(agent_a, "contacts/")),
        ("contact", agent_url(agent_a, f"contacts/{contact.public_id}/")),
        ("contact edit", agent_url(agent_a, f"contacts/{contact.public_id}/edit/")),
        ("contact delete", agent_url(agent_a, f"contacts/{contact.public_id}/delete/")),
        ("add contact", agent_url(agent_a, "contacts/new/")),
        ("import", agent_url(agent_a, "contacts/import/")),
        ("custom fields", agent_url(agent_a, "contacts/fields/")),
        ("documents", agent_url(agent_a, "documents/")),
        ("document", agent_url(agent_a, f"documents/{document.public_id}/")),
        ("failed document", agent_url(agent_a, f"documents/{workspace['failed'].public_id}/")),
        ("document delete", agent_url(agent_a, f"documents/{document.public_id}/delete/")),
        ("audit logs", agent_url(agent_a, "audit-logs/")),
    ):
        page.goto(url)
        watch.check(label)
    page.goto(agent_url(agent_a, "contacts/new/"))
    page.get_by_label("Name").fill("Nobody")
    page.get_by_role("button", name="Add Contact").click()
    expect(page.get_by_text("Give at least an email or a mobile number.")).to_have_count(1)
    watch.check("add contact with an error", expected=(422,))
    page.goto(agent_url(agent_a, "contacts/"))
    page.get_by_label("Search contacts").press_sequentially("an")
    expect(page.get_by_role("link", name="Ann Lee")).to_be_visible()
    watch.check("contacts search (htmx swap)")
    page.goto("/agents/" + "f" * 24 + "/contacts/")
    watch.check("404 page", expected=(404,))


def test_a_user_sees_a_clean_403_page(
    page: Page, watch: Watch, member: User, agent_a: Agent
) -> None:
    log_in(page, member)
    page.goto(agent_url(agent_a, "api-permissions/"))
    expect(page.get_by_role("heading", name="You don't have access to this page")).to_be_visible()
    watch.check("403 page", expected=(403,))


def test_favicon_is_served(page: Page, live_server) -> None:  # type: ignore[no-untyped-def]
    response = page.request.get(f"{live_server.url}/favicon.ico")
    assert response.status == 200
    assert response.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")


@pytest.mark.parametrize("width", [761, 800, 900, 1024, 1100, 1150, 1280, 1440, 1920])
def test_the_keys_table_fits_its_card_with_every_row_action_visible(
    page: Page, owner: User, agent_a: Agent, workspace: dict[str, Any], width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, owner)
    page.goto(agent_url(agent_a, "api-permissions/"))
    card = page.locator("#keys")
    expect(card).to_be_visible()
    overflow = card.evaluate("card => card.scrollWidth - card.clientWidth")
    assert overflow <= 0, f"the table is {overflow}px wider than its card at {width}px"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    box = card.bounding_box()
    assert box is not None
    for row in page.locator("#keys tbody tr").all():
        for control in row.locator(".row-actions button, .row-actions a").all():
            expect(control).to_be_visible()
            control_box = control.bounding_box()
            assert control_box is not None
            assert control_box["x"] >= box["x"] and (
                control_box["x"] + control_box["width"] <= box["x"] + box["width"] + 0.5
            ), (width, control.get_attribute("aria-label"))
        if width >= 1280:
            height = row.bounding_box()["height"]  # type: ignore[index]
            assert height <= 60, f"a key row is {height}px tall at {width}px"


def test_phones_do_not_scroll_sideways_and_the_sidebar_is_whole(
    browser: Browser, live_server, owner: User, agent_a: Agent, workspace: dict[str, Any]
) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, user_agent=IPHONE,
        is_mobile=True, has_touch=True, device_scale_factor=2,
    )  # fmt: skip
    page = context.new_page()
    try:
        log_in(page, owner)
        for rest in ("contacts/", "documents/", "audit-logs/", "api-permissions/"):
            page.goto(agent_url(agent_a, rest))
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= 390, f"{rest} scrolls sideways ({scroll}px)"
            link = page.get_by_role("navigation", name="Agent").get_by_role(
                "link", name="Audit Logs"
            )
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, rest
    finally:
        context.close()


def test_a_landscape_ipad_gets_the_page_not_desktop_only(
    browser: Browser, live_server, owner: User, agent_a: Agent
) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(
        # Safari on an iPad sends no Sec-CH-UA-Mobile: only its user agent speaks.
        base_url=live_server.url, viewport={"width": 1180, "height": 820}, user_agent=IPAD,
        has_touch=True,
    )  # fmt: skip
    page = context.new_page()
    try:
        log_in(page, owner)
        page.goto(agent_url(agent_a, "api-permissions/"))
        expect(page.get_by_role("link", name="Add API Key")).to_be_visible()
        expect(page.get_by_role("heading", name="Desktop Only")).to_be_hidden()
    finally:
        context.close()


def footer_order(page: Page) -> tuple[list[str], list[str]]:
    """The footer's controls in tab order, and sorted left to right."""
    controls = page.locator(
        "dialog .modal-footer a, dialog .modal-footer button:not(.default-submit)"
    ).all()
    names = [c.inner_text().strip() for c in controls]
    xs = [c.bounding_box()["x"] for c in controls]  # type: ignore[index]
    return names, [name for _, name in sorted(zip(xs, names, strict=True))]


def test_modal_footers_tab_in_their_visual_order_and_enter_still_gives_access(
    page: Page, owner: User, agent_a: Agent
) -> None:
    make_key(agent_a, name="Zapier")
    log_in(page, owner)
    page.goto(agent_url(agent_a, "api-permissions/"))
    dialog = page.get_by_role("dialog")
    for opener in ("Edit Zapier", "Rotate Zapier", "Delete Zapier", "Add API Key"):
        page.get_by_role("link", name=opener).click()
        expect(dialog.locator(".modal-footer")).to_be_visible()
        tab_order, visual = footer_order(page)
        assert tab_order == visual, (opener, tab_order, visual)
        if opener != "Add API Key":
            page.keyboard.press("Escape")
    dialog.get_by_label("Name").fill("Billing")
    dialog.get_by_role("button", name="Next").click()
    expect(dialog.get_by_text("Step 2 of 2")).to_be_visible()
    tab_order, visual = footer_order(page)
    assert tab_order == visual == ["Back", "Give Access"]
    # Tab goes from Back to Give Access; the unseen default button is never a tab stop.
    dialog.get_by_role("button", name="Back").focus()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Give Access")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(dialog.locator(".default-submit")).not_to_be_focused()
    # Enter in a field gives access (the form's default button), it does not go back.
    dialog.get_by_label("Requests per minute").press("Enter")
    expect(dialog.get_by_text("API key created successfully.")).to_be_visible()


def test_an_inline_error_goes_away_once_the_value_is_changed(
    page: Page, owner: User, agent_a: Agent
) -> None:
    log_in(page, owner)
    page.goto(agent_url(agent_a, "api-permissions/"))
    page.get_by_role("link", name="Add API Key").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Zapier")
    dialog.get_by_label("IP Address").fill("999.1.1.1")
    dialog.get_by_role("button", name="Next").click()
    error = dialog.get_by_text("'999.1.1.1' is not an IP address or CIDR range")
    expect(error).to_be_visible()
    dialog.get_by_label("IP Address").fill("10.0.0.1")
    expect(error).to_have_count(0)
    expect(dialog.get_by_label("IP Address")).not_to_have_attribute("aria-invalid", "true")


def test_toasts_never_cover_a_rows_actions(page: Page, owner: User, agent_a: Agent) -> None:
    make_key(agent_a, name="Zapier")
    log_in(page, owner)
    page.goto(agent_url(agent_a, "api-permissions/"))
    page.get_by_role("link", name="Edit Zapier").click()
    page.get_by_role("dialog").get_by_role("button", name="Save changes").click()
    toast = page.locator("#toasts .toast", has_text="API key updated successfully.")
    expect(toast).to_be_visible()
    toast_box = toast.bounding_box()
    assert toast_box is not None
    for control in page.locator(".row-actions button, .row-actions a").all():
        box = control.bounding_box()
        assert box is not None
        overlaps = not (
            box["x"] > toast_box["x"] + toast_box["width"]
            or box["x"] + box["width"] < toast_box["x"]
            or box["y"] > toast_box["y"] + toast_box["height"]
            or box["y"] + box["height"] < toast_box["y"]
        )
        assert not overlaps, control.get_attribute("aria-label")


def test_the_login_card_is_centred(page: Page) -> None:
    for width in (1024, 1440, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/login/")
        box = page.locator(".auth-card").bounding_box()
        assert box is not None
        assert abs(box["x"] + box["width"] / 2 - width / 2) <= 2, width


def test_documents_update_their_status_without_a_reload(
    page: Page, owner: User, agent_a: Agent
) -> None:
    document = make_document(agent_a)
    log_in(page, owner)
    page.goto(agent_url(agent_a, "documents/"))
    row = page.get_by_role("row", name=re.compile("a.txt"))
    expect(row.get_by_text("Queued")).to_be_visible()
    document.claim("test-worker")
    expect(row.get_by_text("Processing")).to_be_visible(timeout=6_000)
    document.succeed({"pages": [], "fields": []}, "test-worker")
    expect(row.get_by_text("Succeeded")).to_be_visible(timeout=6_000)
    page.wait_for_timeout(2_500)
    assert page.locator("[hx-trigger]").count() == 0  # polling stopped

    second = make_document(agent_a)
    page.goto(agent_url(agent_a, f"documents/{second.public_id}/"))
    expect(page.get_by_text("The extraction is still running")).to_be_visible()
    second.claim("test-worker")
    second.succeed(
        {"pages": [{"number": 1, "text": "Total 10.00", "width": None, "height": None,
                    "method": "text-layer"}],
         "fields": [{"name": "total", "value": "10.00", "normalized": "10.00", "confidence": 0.9,
                     "source": {"page": 1, "box": None, "text": "10.00"}}]},
        "test-worker",
    )  # fmt: skip
    expect(page.get_by_role("rowheader", name="total", exact=True)).to_be_visible(timeout=6_000)
    expect(page.locator("#document-status")).to_have_text("Succeeded")


def test_deleting_a_document_asks_first(page: Page, owner: User, agent_a: Agent) -> None:
    document = make_document(agent_a)
    log_in(page, owner)
    page.goto(agent_url(agent_a, f"documents/{document.public_id}/"))
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete a.txt?")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    assert Document.objects.filter(pk=document.pk).exists()
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete document").click()
    expect(page.get_by_text("Document deleted.")).to_be_visible()
    assert not Document.objects.filter(pk=document.pk).exists()


def test_an_audit_resource_id_never_breaks_inside(page: Page, owner: User, agent_a: Agent) -> None:
    key, _ = make_key(agent_a, name="Zapier")
    key.record(AuditAction.UPDATE, 'Updated API key "Zapier"', actor=owner.email)
    page.set_viewport_size({"width": 1024, "height": 800})
    log_in(page, owner)
    page.goto(agent_url(agent_a, "audit-logs/"))
    cell = page.locator(".resource", has_text=key.key_id).first
    lines = cell.evaluate(
        """(cell, id) => {
            const text = cell.firstChild; const start = text.data.indexOf(id);
            const range = document.createRange();
            range.setStart(text, start); range.setEnd(text, start + id.length);
            return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
        }""",
        key.key_id,
    )
    assert lines == 1
    assert AuditEvent.objects.exists()


def test_the_documents_file_input_is_styled(page: Page, owner: User, agent_a: Agent) -> None:
    log_in(page, owner)
    page.goto(agent_url(agent_a, "documents/"))
    file_input = page.get_by_label("File")
    assert file_input.evaluate("e => getComputedStyle(e).borderTopLeftRadius") == "6px"
    button_style = file_input.evaluate(
        "e => getComputedStyle(e, '::file-selector-button').fontWeight"
    )
    assert button_style == "600"
