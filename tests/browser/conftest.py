"""Playwright (sync API) driving Debian's chromium against pytest-django's live server.

One browser for the whole session; each test gets a fresh context (cookies, clipboard
permission) and page. Without /usr/bin/chromium the tests skip, except in CI where that
is an error (`.ci/install-chromium` installs it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from accounts.models import User
from tests.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}

expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def browser(django_db_setup: None) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/install-chromium should have installed it.")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium).")
    # Playwright's sync API keeps an asyncio loop running in this thread while the browser
    # lives, and Django refuses ORM calls under a running loop. The tests' own ORM calls are
    # plain synchronous code, so allow them, for this module only.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def context(browser: Browser, live_server) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def log_in(page: Page, user: User) -> None:
    """Through the login form, as a person would."""
    page.goto("/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.fixture
def screenshot() -> Callable[[Page, str], None]:
    """Saves docs/screenshots/<name>.png when SAVE_SCREENSHOTS=1."""

    def save(page: Page, name: str) -> None:
        if os.environ.get("SAVE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOTS / f"{name}.png")

    return save
