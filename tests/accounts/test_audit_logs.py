"""Settings → Audit Logs: Owners and Admins see the organization's events, Users their own."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Agent, AuditAction, AuditEvent, AuditStatus, Organization, User
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def record(user: User | None, organization: Organization, action: str, text: str) -> AuditEvent:
    return AuditEvent.record(
        action=AuditAction(action),
        resource=f"Thing {text}",
        description=text,
        organization=organization,
        user=user,
        actor=None if user else "API key Zapier",
    )


@pytest.fixture
def events(owner: User, admin: User, member: User, stranger: User, agent_b: Agent) -> None:
    org_a = owner.memberships.get().organization
    record(owner, org_a, "create", "Owner created a key")
    record(admin, org_a, "delete", "Admin deleted a key")
    record(member, org_a, "read", "Member read contacts")
    record(None, org_a, "update", "A key updated a contact")
    record(stranger, agent_b.organization, "create", "Globex secret event")
    AuditEvent.objects.filter(action=AuditAction.LOGIN).delete()


def audit_url(agent: Agent, query: str = "") -> str:
    return reverse("accounts:audit-logs", args=[agent.public_id]) + query


def test_the_page_has_the_seed_columns(owner: User, agent_a: Agent, events: None) -> None:
    html = client_for(owner).get(audit_url(agent_a)).content.decode()

    for column in ("User", "Description", "Action", "Resource", "Status", "Timestamp"):
        assert f'<th scope="col">{column}</th>' in html
    assert 'aria-current="page">Audit Logs</a>' in html
    assert ">Success</span>" in html


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_see_the_organizations_events(
    request: pytest.FixtureRequest, role: str, agent_a: Agent, events: None
) -> None:
    html = client_for(request.getfixturevalue(role)).get(audit_url(agent_a)).content.decode()

    for text in ("Owner created", "Admin deleted", "Member read", "A key updated"):
        assert text in html
    assert "API key Zapier" in html  # the actor of an event without a user
    assert "Globex" not in html


def test_a_user_sees_only_their_own_events(member: User, agent_a: Agent, events: None) -> None:
    response = client_for(member).get(audit_url(agent_a))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Member read contacts" in html
    assert "Owner created" not in html and "Admin deleted" not in html
    assert "Your own activity" in html


def test_a_member_of_another_organization_gets_404(stranger: User, agent_a: Agent) -> None:
    assert client_for(stranger).get(audit_url(agent_a)).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client: Client, agent_a: Agent) -> None:
    response = client.get(audit_url(agent_a))
    assert response.status_code == 302 and response["Location"].startswith(
        reverse("accounts:login")
    )


def test_filter_by_action(owner: User, agent_a: Agent, events: None) -> None:
    html = client_for(owner).get(audit_url(agent_a, "?action=delete")).content.decode()

    assert "Admin deleted a key" in html
    assert "Owner created" not in html
    assert '<option value="delete" selected>Delete</option>' in html


def test_an_unknown_action_filter_shows_everything(
    owner: User, agent_a: Agent, events: None
) -> None:
    html = client_for(owner).get(audit_url(agent_a, "?action=nope")).content.decode()
    assert "Owner created" in html and "Admin deleted" in html


def test_an_empty_filter_says_so(owner: User, agent_a: Agent, events: None) -> None:
    html = client_for(owner).get(audit_url(agent_a, "?action=logout")).content.decode()
    assert "No events match this filter." in html


def test_pages_of_25_with_links_that_work_without_htmx(owner: User, agent_a: Agent) -> None:
    organization = agent_a.organization
    for number in range(30):
        record(owner, organization, "read", f"Event {number:02d}")
    client = client_for(owner)
    AuditEvent.objects.filter(action=AuditAction.LOGIN).delete()

    first = client.get(audit_url(agent_a)).content.decode()
    second = client.get(audit_url(agent_a, "?page=2")).content.decode()

    assert first.count("<tr>") == 26  # header + 25
    assert "Event 29" in first and "Event 04" not in first
    assert "Page 1 of 2" in first
    assert f'href="{audit_url(agent_a)}?page=2"' in first
    assert second.count("<tr>") == 6
    assert "Event 04" in second and "Event 00" in second
    assert f'hx-get="{audit_url(agent_a)}?page=1"' in second


def test_pages_keep_the_filter(owner: User, agent_a: Agent) -> None:
    for _ in range(26):
        record(owner, agent_a.organization, "update", "Changed")
    html = client_for(owner).get(audit_url(agent_a, "?action=update")).content.decode()
    assert f'href="{audit_url(agent_a)}?action=update&amp;page=2"' in html


def test_htmx_gets_only_the_table(owner: User, agent_a: Agent, events: None) -> None:
    response = client_for(owner).get(audit_url(agent_a, "?action=create"), headers=HTMX)

    html = response.content.decode()
    assert "<html" not in html
    assert html.strip().startswith('<div id="events"')
    assert "Owner created a key" in html
    assert "HX-Request" in response["Vary"]


def test_failures_are_marked(owner: User, agent_a: Agent) -> None:
    AuditEvent.record(
        action=AuditAction.UPDATE,
        resource="API key",
        description="Could not rotate",
        organization=agent_a.organization,
        user=owner,
        status=AuditStatus.FAILURE,
    )
    html = client_for(owner).get(audit_url(agent_a)).content.decode()
    assert ">Failure</span>" in html
