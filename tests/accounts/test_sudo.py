"""Sudo mode: revealing, creating, rotating, deleting keys and changing members ask for the
password (and the code, with two-factor) once the last confirmation is older than
SUDO_MODE_MINUTES; the confirmation continues the action that asked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from accounts import twofactor
from accounts.models import Agent, AuditEvent, AuditStatus, User
from apikeys.models import ApiKey
from tests.conftest import client_for
from tests.factories import PASSWORD, make_key, totp_code

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
JSON = {"Accept": "application/json"}


@pytest.fixture
def key(agent_a: Agent) -> ApiKey:
    return make_key(agent_a, "contacts_read", name="Zapier")[0]


@pytest.fixture
def lapsed(owner: User) -> Client:
    return client_for(owner, just_signed_in=False)


def key_url(name: str, key: ApiKey) -> str:
    return reverse(name, args=[key.agent.public_id, key.key_id])


def test_a_fresh_sign_in_needs_no_confirmation(owner: User, key: ApiKey) -> None:
    client = Client()
    client.post(reverse("accounts:login"), {"username": owner.email, "password": PASSWORD})
    response = client.post(key_url("apikeys:api-key-reveal", key), headers=JSON)
    assert response.status_code == 200 and response.json()["key"].startswith("a2v2_")


def test_copy_api_key_asks_for_the_password_when_the_confirmation_lapsed(
    lapsed: Client, key: ApiKey
) -> None:
    response = lapsed.post(key_url("apikeys:api-key-reveal", key), headers=JSON)

    assert response.status_code == 403
    assert response.json() == {"error": "Confirm your password to continue.", "sudo": True}
    assert not AuditEvent.objects.filter(description__startswith="Revealed").exists()


def test_the_confirmation_in_the_modal_continues_the_reveal(lapsed: Client, key: ApiKey) -> None:
    url = key_url("apikeys:api-key-reveal", key)
    form = lapsed.post(url, headers=HTMX)
    html = form.content.decode()
    assert form.status_code == 200 and "Confirm access" in html
    assert f'hx-post="{url}"' in html and 'name="sudo_method" value="POST"' in html

    response = lapsed.post(url, {"sudo_password": PASSWORD, "sudo_method": "POST"}, headers=HTMX)
    assert response.status_code == 200
    assert 'id="shown-key"' in response.content.decode()
    assert AuditEvent.objects.filter(description='Revealed API key "Zapier"').exists()
    # Confirmed for a while: the next reveal goes straight through.
    assert lapsed.post(url, headers=JSON).status_code == 200


def test_a_wrong_password_keeps_the_action_waiting_and_is_audited(
    lapsed: Client, owner: User, key: ApiKey
) -> None:
    url = key_url("apikeys:api-key-delete", key)
    response = lapsed.post(url, {"sudo_password": "nope", "sudo_method": "POST"}, headers=HTMX)

    assert response.status_code == 422
    assert "That password isn&#x27;t right." in response.content.decode()
    assert ApiKey.objects.filter(pk=key.pk).exists()
    assert AuditEvent.objects.filter(
        user=owner,
        status=AuditStatus.FAILURE,
        description="Password confirmation for a sensitive action failed",
    ).exists()


def test_opening_add_api_key_asks_first_then_opens_step_1(lapsed: Client, agent_a: Agent) -> None:
    url = reverse("apikeys:api-key-new", args=[agent_a.public_id])
    asked = lapsed.get(url, headers=HTMX)
    assert "Confirm access" in asked.content.decode()
    assert 'name="sudo_method" value="GET"' in asked.content.decode()

    response = lapsed.post(url, {"sudo_password": PASSWORD, "sudo_method": "GET"}, headers=HTMX)
    assert response.status_code == 200
    assert "Step 1 of 2" in response.content.decode()
    assert "Step 1 of 2" in lapsed.get(url, headers=HTMX).content.decode()


def test_the_carried_fields_finish_the_delete(lapsed: Client, key: ApiKey) -> None:
    url = key_url("apikeys:api-key-delete", key)
    asked = lapsed.post(url, headers=HTMX)
    assert asked.status_code == 200 and ApiKey.objects.filter(pk=key.pk).exists()

    lapsed.post(url, {"sudo_password": PASSWORD, "sudo_method": "POST"}, headers=HTMX)
    assert not ApiKey.objects.filter(pk=key.pk).exists()


def test_rotate_keeps_the_chosen_grace_period_through_the_confirmation(
    lapsed: Client, key: ApiKey
) -> None:
    url = key_url("apikeys:api-key-rotate", key)
    asked = lapsed.post(url, {"grace": "24h"}, headers=HTMX)
    assert 'name="grace" value="24h"' in asked.content.decode()

    lapsed.post(url, {"grace": "24h", "sudo_password": PASSWORD, "sudo_method": "POST"})
    key.refresh_from_db()
    assert key.previous_secret_expires_at is not None


def test_without_javascript_the_confirmation_is_a_page(lapsed: Client, key: ApiKey) -> None:
    response = lapsed.post(key_url("apikeys:api-key-reveal", key))
    html = response.content.decode()
    assert response.status_code == 200 and "<h1>Confirm access</h1>" in html


def test_the_confirmation_lapses_after_sudo_mode_minutes(
    owner: User, key: ApiKey, settings
) -> None:
    settings.SUDO_MODE_MINUTES = 10
    client = client_for(owner)
    url = key_url("apikeys:api-key-reveal", key)
    assert client.post(url, headers=JSON).status_code == 200
    with freeze_time(timezone.now() + timedelta(minutes=11)):
        assert client.post(url, headers=JSON).status_code == 403


def test_with_two_factor_the_code_is_asked_too(lapsed: Client, owner: User, key: ApiKey) -> None:
    device = twofactor.pending_authenticator(owner)
    twofactor.confirm_authenticator(device, totp_code(device))
    device.refresh_from_db()
    url = key_url("apikeys:api-key-reveal", key)

    without_code = lapsed.post(
        url, {"sudo_password": PASSWORD, "sudo_method": "POST"}, headers=HTMX
    )
    assert (
        without_code.status_code == 422 and "Authentication code" in without_code.content.decode()
    )
    response = lapsed.post(
        url,
        {"sudo_password": PASSWORD, "sudo_code": totp_code(device, 1), "sudo_method": "POST"},
        headers=HTMX,
    )
    assert response.status_code == 200 and 'id="shown-key"' in response.content.decode()


def test_changing_members_asks_too(lapsed: Client, member: User, agent_a: Agent) -> None:
    target = member.memberships.get()
    url = reverse("accounts:member-role", args=[agent_a.public_id, target.pk])
    response = lapsed.post(url, {"role": "admin"}, headers=HTMX)

    assert "Confirm access" in response.content.decode()
    target.refresh_from_db()
    assert target.role == "user"


def test_a_user_gets_403_before_any_confirmation(member: User, agent_a: Agent, key: ApiKey) -> None:
    client = client_for(member, just_signed_in=False)
    assert client.post(key_url("apikeys:api-key-reveal", key), headers=JSON).status_code == 403
    assert client.post(key_url("apikeys:api-key-reveal", key), headers=HTMX).status_code == 403
    assert (
        "Confirm access"
        not in client.get(reverse("accounts:members", args=[agent_a.public_id])).content.decode()
    )


def test_guessing_the_password_in_sudo_mode_locks_like_the_sign_in(
    lapsed: Client, key: ApiKey
) -> None:
    url = key_url("apikeys:api-key-reveal", key)
    for n in range(5):
        response = lapsed.post(
            url, {"sudo_password": f"guess-{n}", "sudo_method": "POST"}, headers=HTMX
        )
    assert response.status_code == 422
    assert "Too many failed sign-in attempts" in response.content.decode()
    refused = lapsed.post(url, {"sudo_password": PASSWORD, "sudo_method": "POST"}, headers=HTMX)
    assert refused.status_code == 422
