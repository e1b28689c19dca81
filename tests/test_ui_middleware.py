"""/v1/open steps around the admin UI's middleware (a2v2/ui_middleware.py) without
weakening the UI: API answers set no cookie and trust no session; the UI keeps its
sessions and CSRF checks; both keep the security headers."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from a2v2 import ui_middleware
from accounts.models import Agent, User
from tests.conftest import client_for
from tests.factories import make_key

pytestmark = pytest.mark.django_db
ME = "/v1/open/keys/me"


def test_an_api_answer_sets_no_cookie_and_keeps_the_security_headers(
    client: Client, agent_a: Agent
) -> None:
    _, full = make_key(agent_a)
    for response in (
        client.get(ME, headers={"x-api-key": full}),
        client.get(ME),  # refused
        client.get("/v1/open/health"),
    ):
        assert not response.cookies, response.cookies
        assert "Cookie" not in response.get("Vary", "")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert "default-src 'self'" in response["Content-Security-Policy"]


def test_a_logged_in_browser_is_nobody_on_the_api(owner: User, agent_a: Agent) -> None:
    browser = client_for(owner)
    assert (
        browser.get(reverse("apikeys:api-permissions", args=[agent_a.public_id])).status_code == 200
    )
    response = browser.get(ME)
    assert response.status_code == 401  # the session cookie opens nothing under /v1/open


def test_the_admin_ui_still_checks_csrf_and_keeps_its_session(owner: User, agent_a: Agent) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    page = reverse("apikeys:api-key-new", args=[agent_a.public_id])
    assert browser.post(page, {"name": "x", "action": "create"}).status_code == 403
    shown = browser.get(page)
    assert shown.status_code == 200 and "csrftoken" in shown.cookies


class Recorder:
    """A middleware with every hook, to see which ones the wrapper passes on."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.calls: list[str] = []

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.calls.append("call")
        return self.get_response(request)

    def process_view(self, request: HttpRequest, *args: Any) -> None:
        self.calls.append("view")

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        self.calls.append("exception")

    def process_template_response(self, request: HttpRequest, response: Any) -> Any:
        self.calls.append("template")
        return response


def test_the_wrapper_runs_the_middleware_and_its_hooks_outside_the_api_only() -> None:
    wrapped = ui_middleware.ui_only(Recorder)(lambda request: HttpResponse("ok"))
    factory = RequestFactory()
    response = HttpResponse()
    for path, expected in (("/agents/", ["call", "view", "exception", "template"]), (ME, [])):
        request = factory.get(path)
        wrapped.inner.calls.clear()
        wrapped(request)
        assert wrapped.process_view(request, None, (), {}) is None
        assert wrapped.process_exception(request, ValueError()) is None
        assert wrapped.process_template_response(request, response) is response
        assert wrapped.inner.calls == expected, path


def test_a_wrapper_offers_only_the_hooks_its_middleware_has() -> None:
    sessions = ui_middleware.SessionMiddleware(lambda request: HttpResponse())
    csrf = ui_middleware.CsrfViewMiddleware(lambda request: HttpResponse())
    assert not hasattr(sessions, "process_view")
    assert hasattr(csrf, "process_view")
