"""Two-factor (django-otp): enrolment with a server-drawn QR code, recovery codes shown once,
the code asked after the password, an organization's requirement, the operator's reset."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import twofactor
from accounts.models import Agent, AuditEvent, AuditStatus, User
from tests.conftest import client_for
from tests.factories import PASSWORD, totp_code

pytestmark = pytest.mark.django_db


def enrol(user: User) -> tuple[TOTPDevice, list[str]]:
    device = twofactor.pending_authenticator(user)
    codes = twofactor.confirm_authenticator(device, totp_code(device))
    assert codes is not None
    device.refresh_from_db()
    return device, codes


def password_step(client: Client, user: User, **extra) -> object:
    return client.post(
        reverse("accounts:login"), {"username": user.email, "password": PASSWORD}, **extra
    )


def test_enrolment_shows_an_inline_qr_code_and_the_key(owner: User) -> None:
    response = client_for(owner).get(reverse("accounts:two-factor-setup"))

    html = response.content.decode()
    assert response.status_code == 200
    assert '<div class="qr-code"><svg' in html and "<img" not in html.split("qr-code")[1][:200]
    device = TOTPDevice.objects.get(user=owner, confirmed=False)
    assert twofactor.setup_key(device) in html
    assert "otpauth://" not in html  # only inside the QR code's picture


def test_a_wrong_first_code_keeps_two_factor_off(owner: User) -> None:
    client = client_for(owner)
    client.get(reverse("accounts:two-factor-setup"))
    response = client.post(reverse("accounts:two-factor-setup"), {"code": "000000"})

    assert response.status_code == 422
    assert "That code didn&#x27;t work" in response.content.decode()
    assert not twofactor.has_two_factor(owner)


def test_the_right_first_code_turns_it_on_and_shows_ten_recovery_codes_once(
    owner: User, agent_a: Agent
) -> None:
    client = client_for(owner)
    client.get(reverse("accounts:two-factor-setup"))
    device = TOTPDevice.objects.get(user=owner)
    response = client.post(reverse("accounts:two-factor-setup"), {"code": totp_code(device)})

    html = response.content.decode()
    codes = re.findall(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4})</code></li>", html)
    assert len(set(codes)) == 10
    assert "no-store" in response["Cache-Control"]
    assert twofactor.has_two_factor(owner)
    account = client.get(reverse("accounts:account")).content.decode()
    assert codes[0] not in account and "10</strong> recovery codes left" in account
    assert AuditEvent.objects.filter(description="Turned on two-factor authentication").exists()


def test_sign_in_asks_for_the_code_after_the_password_and_not_before(
    owner: User, agent_a: Agent
) -> None:
    device, _ = enrol(owner)
    client = Client()
    response = password_step(client, owner)

    assert response["Location"] == reverse("accounts:login-code")
    assert client.get(reverse("accounts:home")).status_code == 302  # not signed in yet
    page = client.get(reverse("accounts:login-code")).content.decode()
    assert "Two-factor authentication" in page and "Authentication code" in page

    response = client.post(reverse("accounts:login-code"), {"code": totp_code(device, 1)})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:home")
    assert (
        client.get(reverse("accounts:home")).status_code == 302
    )  # home redirects to the one agent
    assert client.get(reverse("accounts:account")).status_code == 200


def test_a_wrong_code_is_refused_and_audited(owner: User, agent_a: Agent) -> None:
    enrol(owner)
    client = Client()
    password_step(client, owner)
    response = client.post(reverse("accounts:login-code"), {"code": "123456"})

    assert response.status_code == 422
    assert client.get(reverse("accounts:account")).status_code == 302
    assert AuditEvent.objects.filter(
        user=owner, status=AuditStatus.FAILURE, description="Sign-in failed: wrong two-factor code"
    ).exists()


def test_five_wrong_codes_end_the_attempt(owner: User, agent_a: Agent) -> None:
    device, _ = enrol(owner)
    client = Client()
    password_step(client, owner)
    for _ in range(5):
        client.post(reverse("accounts:login-code"), {"code": "123456"})

    response = client.post(reverse("accounts:login-code"), {"code": totp_code(device, 1)})
    assert response["Location"] == reverse("accounts:login")


def test_a_recovery_code_works_once(owner: User, agent_a: Agent) -> None:
    _, codes = enrol(owner)
    first = Client()
    password_step(first, owner)
    response = first.post(reverse("accounts:login-code"), {"code": codes[0].upper()}, follow=True)
    assert response.status_code == 200
    assert "You signed in with a recovery code; 9 left." in response.content.decode()
    assert AuditEvent.objects.filter(description="Signed in with a recovery code (9 left)").exists()

    again = Client()
    password_step(again, owner)
    assert again.post(reverse("accounts:login-code"), {"code": codes[0]}).status_code == 422


def test_the_code_step_expires(owner: User, agent_a: Agent) -> None:
    from datetime import timedelta

    from django.utils import timezone
    from freezegun import freeze_time

    device, _ = enrol(owner)
    client = Client()
    password_step(client, owner)
    with freeze_time(timezone.now() + timedelta(minutes=6)):
        response = client.post(reverse("accounts:login-code"), {"code": totp_code(device)})
    assert response["Location"] == reverse("accounts:login")


def test_an_organization_can_require_two_factor_of_its_owners_and_admins(
    owner: User, admin: User, member: User, agent_a: Agent
) -> None:
    agent_a.organization.require_two_factor = True
    agent_a.organization.save()

    admin_client = client_for(admin)
    response = admin_client.get(reverse("contacts:contacts", args=[agent_a.public_id]))
    assert response.status_code == 302 and response["Location"] == reverse(
        "accounts:two-factor-setup"
    )
    page = admin_client.get(reverse("accounts:two-factor-setup")).content.decode()
    assert "Acme requires two-factor authentication for Owners and Admins" in page
    htmx = admin_client.get(
        reverse("accounts:audit-logs", args=[agent_a.public_id]), headers={"HX-Request": "true"}
    )
    assert htmx["HX-Redirect"] == reverse("accounts:two-factor-setup")
    # Users are not concerned; after enrolling, the admin goes anywhere again.
    assert (
        client_for(member).get(reverse("contacts:contacts", args=[agent_a.public_id])).status_code
        == 200
    )
    enrol(admin)
    assert (
        admin_client.get(reverse("contacts:contacts", args=[agent_a.public_id])).status_code == 200
    )
    # …and cannot turn it off while it is required.
    admin_client.post(reverse("accounts:two-factor-off"))
    assert twofactor.has_two_factor(admin)


def test_only_the_owner_changes_the_requirement(owner: User, admin: User, agent_a: Agent) -> None:
    url = reverse("accounts:require-two-factor", args=[agent_a.public_id])
    assert client_for(admin).post(url, {"require_two_factor": "on"}).status_code == 403

    response = client_for(owner).post(url, {"require_two_factor": "on"})
    assert response.status_code == 302
    agent_a.organization.refresh_from_db()
    assert agent_a.organization.require_two_factor
    assert AuditEvent.objects.filter(
        description='Turned on "Require two-factor for Owners and Admins"'
    ).exists()


def test_turning_off_two_factor(owner: User, agent_a: Agent) -> None:
    enrol(owner)
    response = client_for(owner).post(reverse("accounts:two-factor-off"))

    assert response["Location"] == reverse("accounts:account")
    assert not twofactor.has_two_factor(owner) and twofactor.recovery_codes_left(owner) == 0


def test_new_recovery_codes_replace_the_old_ones(owner: User, agent_a: Agent) -> None:
    _, old = enrol(owner)
    response = client_for(owner).post(reverse("accounts:recovery-codes-new"))

    new = re.findall(r"<li><code>([a-z2-7-]{9})</code></li>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert twofactor.verify_code(owner, new[0]) is not None
    assert twofactor.verify_code(owner, old[0]) is None


def test_the_operator_resets_a_members_second_factor(owner: User, agent_a: Agent) -> None:
    enrol(owner)
    out = StringIO()
    call_command("reset_two_factor", owner.email, stdout=out)

    assert out.getvalue().strip() == f"Two-factor authentication of {owner.email} was removed."
    assert not twofactor.has_two_factor(owner)
    assert AuditEvent.objects.filter(
        actor="operator", description__startswith="Reset the two-factor"
    ).exists()
    client = Client()
    assert password_step(client, owner)["Location"] == reverse("accounts:home")


def test_resetting_an_unknown_member_fails_with_one_line() -> None:
    with pytest.raises(CommandError, match=r"No user with email 'nobody@acme\.test'"):
        call_command("reset_two_factor", "nobody@acme.test")
