"""Least privilege, suggested: unused permissions and allowlist entries, removed in one
confirmed, audited, sudo-guarded action; and a rotation's grace period, ended early."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import Agent, AuditAction, AuditEvent, User
from apikeys import usage
from apikeys.insights import suggestions
from apikeys.models import GRACE_PERIODS, ApiKey
from tests.conftest import client_for
from tests.factories import make_key

pytestmark = pytest.mark.django_db
ME = "/v1/open/keys/me"
HTMX = {"HX-Request": "true"}


def contacts(agent: Agent) -> str:
    return f"/v1/open/contacts/chatbots/{agent.public_id}"


def aged(key: ApiKey, days: int = 31) -> ApiKey:
    ApiKey.objects.filter(pk=key.pk).update(created_at=timezone.now() - timedelta(days=days))
    key.refresh_from_db()
    return key


def url(name: str, key: ApiKey, *more: str) -> str:
    return reverse(name, args=[key.agent.public_id, key.key_id, *more])


def test_a_permission_unused_for_30_days_is_suggested_for_removal(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a, "contacts_read", "contacts_delete")
    aged(key)
    client.get(contacts(agent_a), headers={"x-api-key": full})
    usage.flush()
    [unused] = suggestions([key])[key.pk].unused
    assert unused.code == "contacts:delete"


def test_a_young_key_or_a_freshly_granted_permission_is_not_flagged(agent_a: Agent) -> None:
    young, _ = make_key(agent_a, "contacts_read")
    assert not suggestions([young])[young.pk]
    granted, _ = make_key(agent_a, "contacts_read", "documents_read")
    aged(granted)
    granted.mark_granted(["documents_read"])
    granted.save()
    assert [p.code for p in suggestions([granted])[granted.pk].unused] == ["contacts:read"]


def test_an_allowlist_wider_than_the_addresses_seen_is_narrowed_to_them(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a, "contacts_read", ip_allowlist="127.0.0.1, 10.0.0.0/8")
    aged(key)
    client.get(contacts(agent_a), headers={"x-api-key": full})
    usage.flush()
    assert suggestions([key])[key.pk].allowlist == "127.0.0.1"


def test_any_address_used_from_one_address_is_suggested_down_to_it(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a, "contacts_read")
    aged(key)
    client.get(contacts(agent_a), headers={"x-api-key": full}, REMOTE_ADDR="203.0.113.5")
    usage.flush()
    assert suggestions([key])[key.pk].allowlist == "203.0.113.5"


def test_an_unused_key_gets_no_allowlist_suggestion(agent_a: Agent) -> None:
    key, _ = make_key(agent_a, ip_allowlist="10.0.0.0/8")
    aged(key)
    assert suggestions([key])[key.pk].allowlist is None


def test_the_row_flags_the_suggestion_and_removal_is_confirmed_audited_and_immediate(
    client: Client, owner: User, agent_a: Agent
) -> None:
    key, full = make_key(agent_a, "contacts_read", "contacts_delete", name="Sync")
    aged(key)
    client.get(contacts(agent_a), headers={"x-api-key": full})
    usage.flush()
    browser = client_for(owner)
    listing = browser.get(
        reverse("apikeys:api-permissions", args=[agent_a.public_id])
    ).content.decode()
    assert "Unused permissions" in listing
    page = browser.get(url("apikeys:api-key-detail", key)).content.decode()
    assert "Remove unused permissions" in page and "Contact Access: Delete" in page

    confirm = browser.get(url("apikeys:api-key-narrow", key, "permissions"), headers=HTMX)
    assert "Contact Access: Delete" in confirm.content.decode()
    response = browser.post(url("apikeys:api-key-narrow", key, "permissions"), headers=HTMX)
    assert response["HX-Redirect"] == url("apikeys:api-key-detail", key)
    key.refresh_from_db()
    assert key.contacts_read and not key.contacts_delete
    event = AuditEvent.objects.filter(action=AuditAction.UPDATE).latest("id")
    assert "Contact Access: Delete" in event.description and event.user == owner
    gone = f"/v1/open/contacts/mantisid/x/chatbots/{agent_a.public_id}"
    assert Client().delete(gone, headers={"x-api-key": full}).status_code == 403


def test_narrowing_the_allowlist_is_audited_and_takes_effect(
    client: Client, owner: User, agent_a: Agent
) -> None:
    key, full = make_key(agent_a, "contacts_read", ip_allowlist="127.0.0.1, 10.0.0.0/8")
    aged(key)
    client.get(contacts(agent_a), headers={"x-api-key": full})
    usage.flush()
    client_for(owner).post(url("apikeys:api-key-narrow", key, "allowlist"))
    key.refresh_from_db()
    assert key.ip_allowlist == "127.0.0.1"
    assert "10.0.0.0/8" in AuditEvent.objects.latest("id").description
    assert Client().get(ME, headers={"x-api-key": full}, REMOTE_ADDR="10.1.1.1").status_code == 403


def test_removing_needs_sudo_and_a_manager(
    owner: User, member: User, stranger: User, agent_a: Agent
) -> None:
    key, _ = make_key(agent_a, "contacts_delete")
    aged(key)
    target = url("apikeys:api-key-narrow", key, "permissions")
    lapsed = client_for(owner, just_signed_in=False).post(target)
    assert "sudo_password" in lapsed.content.decode()
    assert client_for(member).post(target).status_code == 403
    assert client_for(stranger).post(target).status_code == 404
    key.refresh_from_db()
    assert key.contacts_delete
    assert (
        client_for(owner).get(url("apikeys:api-key-narrow", key, "everything")).status_code == 404
    )


def test_the_key_page_watches_the_old_secret_and_ends_the_grace(
    client: Client, owner: User, agent_a: Agent
) -> None:
    key, old = make_key(agent_a, name="Billing")
    new = key.rotate(GRACE_PERIODS["24h"], by=owner)
    client.get(ME, headers={"x-api-key": old}, REMOTE_ADDR="192.0.2.44")
    client.get(ME, headers={"x-api-key": old}, REMOTE_ADDR="192.0.2.44")
    usage.flush()
    browser = client_for(owner)
    page = browser.get(url("apikeys:api-key-detail", key)).content.decode()
    assert "Rotation in progress" in page and "192.0.2.44" in page
    assert 'id="old-secret-calls">2<' in page
    assert "End grace now" in page

    browser.post(url("apikeys:api-key-end-grace", key))
    assert Client().get(ME, headers={"x-api-key": old}).status_code == 401
    assert Client().get(ME, headers={"x-api-key": new}).status_code == 200
    rotation = key.rotations.get()
    assert rotation.grace_ended_early_at is not None and rotation.rotated_by == owner
    assert "Ended the grace period" in AuditEvent.objects.latest("id").description
    page = browser.get(url("apikeys:api-key-detail", key)).content.decode()
    assert "Rotation in progress" not in page and "ended early" in page


def test_the_rotate_dialog_offers_grace_from_first_use(
    client: Client, owner: User, agent_a: Agent
) -> None:
    key, old = make_key(agent_a)
    browser = client_for(owner)
    dialog = browser.get(url("apikeys:api-key-rotate", key), headers=HTMX).content.decode()
    assert "first use" in dialog
    browser.post(
        url("apikeys:api-key-rotate", key), {"grace": "1h", "on_first_use": "on"}, headers=HTMX
    )
    key.refresh_from_db()
    assert key.pending_grace == timedelta(hours=1) and key.previous_secret_expires_at is None
    assert "first use" in AuditEvent.objects.latest("id").description
    with freeze_time(timezone.now() + timedelta(days=2)):
        assert client.get(ME, headers={"x-api-key": old}).status_code == 200


def test_the_default_rotation_is_unchanged(owner: User, agent_a: Agent) -> None:
    key, _ = make_key(agent_a)
    client_for(owner).post(url("apikeys:api-key-rotate", key), {"grace": "1h"})
    key.refresh_from_db()
    assert key.pending_grace is None and key.previous_secret_expires_at is not None
    assert key.rotations.get().grace == timedelta(hours=1)
