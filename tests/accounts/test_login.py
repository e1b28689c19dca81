from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Agent, AuditAction, AuditEvent, AuditStatus, User
from tests.conftest import client_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_renders(client: Client) -> None:
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 200
    assert b"Sign in" in response.content


def test_login_shows_the_agent_sidebar_and_is_audited(
    client: Client, owner: User, agent_a: Agent
) -> None:
    response = client.post(
        reverse("accounts:login"), {"username": owner.email, "password": PASSWORD}, follow=True
    )

    assert response.status_code == 200
    html = response.content.decode()
    for item in (
        "CRM",
        "Contacts",
        "Channels &amp; API",
        "API Permissions",
        "Settings",
        "Audit Logs",
    ):
        assert item in html
    event = AuditEvent.objects.get(action=AuditAction.LOGIN)
    assert event.user == owner and event.status == AuditStatus.SUCCESS
    assert event.organization == agent_a.organization


def test_wrong_password_is_refused_and_audited(client: Client, owner: User, agent_a: Agent) -> None:
    response = client.post(reverse("accounts:login"), {"username": owner.email, "password": "nope"})

    assert response.status_code == 200
    assert b"email and password don&#x27;t match" in response.content.lower()
    assert AuditEvent.objects.get().status == AuditStatus.FAILURE


def test_logout_is_a_post_and_is_audited(owner: User, agent_a: Agent) -> None:
    client = client_for(owner)
    response = client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.LOGOUT, user=owner).exists()
    assert client.get(reverse("accounts:home")).status_code == 302


def test_pages_need_a_login(client: Client, agent_a: Agent) -> None:
    response = client.get(reverse("contacts:contacts", args=[agent_a.public_id]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_an_htmx_request_after_the_session_ended_loads_the_login_page_in_the_window(
    client: Client, agent_a: Agent
) -> None:
    page = reverse("accounts:agent-home", args=[agent_a.public_id])
    fragment = reverse("accounts:audit-logs", args=[agent_a.public_id]) + "?action=create"
    response = client.get(
        fragment,
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{page}"},
    )

    # not the login page swapped into the table, and back to the page, not the fragment
    assert response.status_code == 200 and response.content == b""
    assert response["HX-Redirect"] == f"{reverse('accounts:login')}?next={page.replace('/', '%2F')}"


def test_a_plain_request_after_the_session_ended_is_redirected_as_before(
    client: Client, agent_a: Agent
) -> None:
    fragment = reverse("accounts:audit-logs", args=[agent_a.public_id])
    response = client.get(fragment)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('accounts:login')}?next=")
