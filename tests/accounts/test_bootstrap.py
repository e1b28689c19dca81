from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Agent, AuditEvent, Membership, Organization, Role, User

pytestmark = pytest.mark.django_db


def bootstrap(*args: str) -> dict:
    out = StringIO()
    call_command("bootstrap", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_bootstrap_creates_organization_owner_and_agent() -> None:
    result = bootstrap("--organization", "Acme", "--email", "Ada@Example.com", "--agent", "Bot")

    user = User.objects.get(email="ada@example.com")
    assert user.check_password(result["owner"]["password"])
    organization = Organization.objects.get(name="Acme")
    assert Membership.objects.get(organization=organization, user=user).role == Role.OWNER
    agent = Agent.objects.get(public_id=result["agent"]["id"])
    assert agent.organization == organization
    assert len(agent.public_id) == 24 and int(agent.public_id, 16) >= 0


def test_bootstrap_is_idempotent() -> None:
    first = bootstrap(
        "--organization", "Acme", "--email", "ada@example.com", "--password", "pw-1-long-enough"
    )
    second = bootstrap("--organization", "Acme", "--email", "ada@example.com")

    assert second["organization"]["created"] is False
    assert second["owner"]["created"] is False
    assert second["agent"] == {**first["agent"], "created": False}
    assert Organization.objects.count() == 1 and Agent.objects.count() == 1
    assert User.objects.get().check_password("pw-1-long-enough")


def test_bootstrap_refuses_a_malformed_email() -> None:
    with pytest.raises(CommandError, match="not a valid email"):
        bootstrap("--organization", "Acme", "--email", "not-an-email")
    assert not User.objects.exists()


def test_bootstrap_refuses_to_take_over_someone_elses_organization() -> None:
    bootstrap("--organization", "Acme", "--email", "ada@example.com")
    with pytest.raises(CommandError, match="another owner"):
        bootstrap("--organization", "Acme", "--email", "eve@example.com")
    assert Membership.objects.count() == 1


def test_add_member_and_agent_commands() -> None:
    bootstrap("--organization", "Acme", "--email", "ada@example.com")
    out = StringIO()
    call_command("add_member", "Acme", "bob@example.com", "--role", "admin", "--json", stdout=out)
    assert json.loads(out.getvalue())["role"] == "admin"
    assert Membership.objects.get(user__email="bob@example.com").role == Role.ADMIN

    out = StringIO()
    call_command("add_agent", "Acme", "Sales bot", "--json", stdout=out)
    assert Agent.objects.filter(
        public_id=json.loads(out.getvalue())["id"], name="Sales bot"
    ).exists()


def test_add_member_cannot_demote_the_owner() -> None:
    bootstrap("--organization", "Acme", "--email", "ada@example.com")
    with pytest.raises(CommandError, match="owner"):
        call_command("add_member", "Acme", "ada@example.com", "--role", "user")
    assert Membership.objects.get().role == Role.OWNER


def test_add_member_reports_an_unknown_organization() -> None:
    with pytest.raises(CommandError, match="No organization"):
        call_command("add_member", "Nope", "bob@example.com")


def test_an_organization_has_at_most_one_owner(org_a: Organization, owner: User) -> None:
    from django.db import IntegrityError, transaction

    other = User.objects.create_user("second@example.com", "x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(organization=org_a, user=other, role=Role.OWNER)
    assert not AuditEvent.objects.exists()
