"""Passkeys as a second factor (accounts/passkeys.py, accounts/passkey_views.py on
django-otp-webauthn): added in sudo mode once two-factor is on, used after the password
instead of a code, never instead of the password; audited; removed with two-factor.
A software authenticator (tests/passkey_authenticator.py) signs for real."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts import twofactor
from accounts.models import Agent, AuditEvent, AuditStatus, User
from tests.accounts.test_two_factor import enrol, password_step
from tests.conftest import client_for
from tests.passkey_authenticator import FakeAuthenticator

pytestmark = pytest.mark.django_db


def authenticator() -> FakeAuthenticator:
    return FakeAuthenticator(origin=settings.PASSKEY_ORIGINS[0], rp_id=settings.OTP_WEBAUTHN_RP_ID)


def post_json(client: Client, name: str, body: dict | None = None):
    return client.post(reverse(name), json.dumps(body or {}), content_type="application/json")


def add_passkey(client: Client, key: FakeAuthenticator):
    options = post_json(client, "accounts:passkey-add-begin").json()
    return post_json(client, "accounts:passkey-add-complete", key.create(options))


def passkey_step(client: Client, key: FakeAuthenticator):
    options = post_json(client, "accounts:passkey-begin")
    assert options.status_code == 200, options.content
    return post_json(client, "accounts:passkey-complete", key.get(options.json()))


@pytest.fixture
def owner_key(owner: User) -> FakeAuthenticator:
    enrol(owner)
    key = authenticator()
    assert add_passkey(client_for(owner), key).status_code == 200
    return key


def test_a_member_with_two_factor_adds_a_passkey(owner: User) -> None:
    enrol(owner)
    client = client_for(owner)
    page = client.get(reverse("accounts:passkeys")).content.decode()
    assert 'id="passkey-registration-placeholder"' in page
    assert "django_otp_webauthn/otp_webauthn_register.js" in page

    added = add_passkey(client, authenticator())

    assert added.status_code == 200
    page = client.get(reverse("accounts:passkeys")).content.decode()
    assert "Never" in page and "Remove" in page  # listed, not used yet
    assert "Passkeys (1)" in client.get(reverse("accounts:account")).content.decode()
    assert AuditEvent.objects.filter(user=owner, description="Added a passkey").exists()


def test_the_sign_in_code_step_offers_the_passkey_and_it_signs_in(
    owner: User, agent_a: Agent, owner_key: FakeAuthenticator
) -> None:
    client = Client()
    assert password_step(client, owner)["Location"] == reverse("accounts:login-code")
    assert "Use a passkey" in client.get(reverse("accounts:login-code")).content.decode()

    done = passkey_step(client, owner_key)

    assert done.status_code == 200
    assert done.json()["redirect_url"] == reverse("accounts:home")
    assert client.get(reverse("accounts:account")).status_code == 200  # signed in
    assert "a2v2_known" in done.cookies  # a known browser, as after a code
    assert AuditEvent.objects.filter(user=owner, description="Signed in with a passkey").exists()


def test_a_passkey_never_replaces_the_password(
    owner: User, agent_a: Agent, owner_key: FakeAuthenticator
) -> None:
    client = Client()
    refused = post_json(client, "accounts:passkey-begin")
    assert refused.status_code == 403 and refused.json()["code"] == "sign_in_expired"
    assert client.get(reverse("accounts:account")).status_code == 302  # still signed out


def test_someone_elses_passkey_is_refused_counted_and_audited(
    owner: User, admin: User, agent_a: Agent, owner_key: FakeAuthenticator
) -> None:
    enrol(admin)
    client = Client()
    password_step(client, admin)
    answers = [passkey_step(client, owner_key) for _ in range(5)]

    assert [a.status_code for a in answers] == [403] * 5
    assert answers[-1].json()["detail"] == "Too many failed attempts. Please sign in again."
    assert client.get(reverse("accounts:account")).status_code == 302
    failures = AuditEvent.objects.filter(user=admin, status=AuditStatus.FAILURE)
    assert (
        failures.filter(description__startswith="Sign-in failed: passkey not accepted").count() == 5
    )
    assert post_json(client, "accounts:passkey-begin").status_code == 403  # the attempt is over


def test_a_forged_signature_is_refused(
    owner: User, agent_a: Agent, owner_key: FakeAuthenticator
) -> None:
    client = Client()
    password_step(client, owner)
    options = post_json(client, "accounts:passkey-begin").json()
    answer = owner_key.get(options)
    answer["response"]["signature"] = authenticator().get(options)["response"]["signature"]

    refused = post_json(client, "accounts:passkey-complete", answer)

    assert refused.status_code in (400, 403, 422)
    assert client.get(reverse("accounts:account")).status_code == 302


def test_a_replayed_answer_is_refused(
    owner: User, agent_a: Agent, owner_key: FakeAuthenticator
) -> None:
    first = Client()
    password_step(first, owner)
    answer = owner_key.get(post_json(first, "accounts:passkey-begin").json())
    assert post_json(first, "accounts:passkey-complete", answer).status_code == 200

    second = Client()
    password_step(second, owner)
    post_json(second, "accounts:passkey-begin")
    assert post_json(second, "accounts:passkey-complete", answer).status_code != 200
    assert second.get(reverse("accounts:account")).status_code == 302


def test_adding_a_passkey_needs_sudo_mode_and_two_factor(owner: User, member: User) -> None:
    enrol(owner)
    stale = client_for(owner, just_signed_in=False)
    refused = post_json(stale, "accounts:passkey-add-begin")
    assert refused.status_code == 403 and refused.json()["code"] == "user_not_verified"
    assert refused.json()["detail"].startswith("Confirm your password again")
    assert "Confirm access" in stale.get(reverse("accounts:passkeys")).content.decode()

    without = client_for(member)
    refused = post_json(without, "accounts:passkey-add-begin")
    assert refused.status_code == 403 and refused.json()["code"] == "two_factor_first"
    assert (
        "Turn on two-factor authentication first"
        in without.get(reverse("accounts:passkeys")).content.decode()
    )


def test_a_passkey_is_removed_in_sudo_mode(owner: User, owner_key: FakeAuthenticator) -> None:
    client = client_for(owner)
    passkey_id = twofactor.passkeys.of(owner).get().pk
    response = client.post(reverse("accounts:passkey-remove", args=[passkey_id]))
    assert response["Location"] == reverse("accounts:passkeys")
    assert not twofactor.passkeys.of(owner).exists()
    assert AuditEvent.objects.filter(
        user=owner, description__startswith="Removed the passkey"
    ).exists()


def test_turning_off_two_factor_or_resetting_it_removes_the_passkeys(
    owner: User, admin: User, owner_key: FakeAuthenticator
) -> None:
    client_for(owner).post(reverse("accounts:two-factor-off"))
    assert not twofactor.passkeys.of(owner).exists()

    enrol(admin)
    add_passkey(client_for(admin), authenticator())
    call_command("reset_two_factor", admin.email, stdout=StringIO())
    assert not twofactor.passkeys.of(admin).exists()
