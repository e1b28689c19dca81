from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Agent, User
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

AGENT_PAGES = [
    "contacts:contacts",
    "extraction:documents",
    "accounts:audit-logs",
    "apikeys:api-permissions",
]


@pytest.mark.parametrize("page", AGENT_PAGES)
def test_member_of_another_organization_gets_404(page: str, stranger: User, agent_a: Agent) -> None:
    response = client_for(stranger).get(reverse(page, args=[agent_a.public_id]))
    assert response.status_code == 404


@pytest.mark.parametrize("page", AGENT_PAGES)
def test_owner_sees_the_agent_pages(page: str, owner: User, agent_a: Agent) -> None:
    response = client_for(owner).get(reverse(page, args=[agent_a.public_id]))
    assert response.status_code == 200
    assert agent_a.name in response.content.decode()


def test_home_lists_only_the_users_own_agents(owner: User, agent_a: Agent, agent_b: Agent) -> None:
    second = Agent.objects.create(organization=agent_a.organization, name="Second bot")
    response = client_for(owner).get(reverse("accounts:home"))
    html = response.content.decode()
    assert agent_a.name in html and second.name in html
    assert agent_b.name not in html


def test_home_goes_straight_to_a_single_agent(owner: User, agent_a: Agent) -> None:
    response = client_for(owner).get(reverse("accounts:home"))
    assert response.status_code == 302
    assert agent_a.public_id in response["Location"]


def test_pages_carry_a_nonce_csp_and_security_headers(owner: User, agent_a: Agent) -> None:
    response = client_for(owner).get(reverse("contacts:contacts", args=[agent_a.public_id]))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    nonce = csp.split("'nonce-")[1].split("'")[0]
    html = response.content.decode()
    assert f'nonce="{nonce}"' in html
    assert "hx-headers" in html and "X-CSRFToken" in html
    assert "/static/django_htmx/htmx" in html
