"""Sign-in that resists guessing (accounts/signin.py on django-axes): locks per account and
address and per address, a distributed guess slowed instead of locked, the same answers for
accounts that exist and accounts that don't, audited, lifted by the Owner or an operator."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from accounts import signin
from accounts.models import Agent, AuditEvent, AuditStatus, User
from tests.conftest import client_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/login/"


def sign_in(client: Client, email: str, password: str, address: str = "198.51.100.7"):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=address)


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == reverse("accounts:home")


def test_five_wrong_passwords_lock_the_account_from_that_address_only(
    owner: User, agent_a: Agent
) -> None:
    attacker = Client()
    answers = [sign_in(attacker, owner.email, f"guess-{n}") for n in range(5)]

    assert [r.status_code for r in answers] == [200, 200, 200, 200, 429]
    assert "Try again in 15 minutes" in answers[-1].content.decode()
    assert int(answers[-1]["Retry-After"]) == 15 * 60
    # Even the right password is refused from the locked address, without being checked…
    assert sign_in(attacker, owner.email, PASSWORD).status_code == 429
    # …while the rightful user, from their own address, gets in at once.
    assert signed_in(sign_in(Client(), owner.email, PASSWORD, address="203.0.113.20"))


def test_the_lock_ends_after_the_cool_off(owner: User, agent_a: Agent) -> None:
    for n in range(5):
        sign_in(Client(), owner.email, f"guess-{n}")
    with freeze_time(timezone.now() + timedelta(minutes=16)):
        assert signed_in(sign_in(Client(), owner.email, PASSWORD))


def test_an_address_guessing_many_accounts_is_locked_for_all_of_them(
    owner: User, admin: User, agent_a: Agent, settings
) -> None:
    settings.LOGIN_FAILURES_PER_ADDRESS = 8
    for n in range(8):
        sign_in(Client(), f"someone{n}@acme.test", "guess")  # 1 each: no pair is near 5

    assert sign_in(Client(), admin.email, PASSWORD).status_code == 429
    assert signed_in(sign_in(Client(), admin.email, PASSWORD, address="203.0.113.20"))


def test_a_lock_says_the_same_whether_or_not_the_account_exists(owner: User) -> None:
    def answers(email: str) -> list[tuple[int, list[str]]]:
        client = Client()
        responses = [sign_in(client, email, f"guess-{n}", address="192.0.2.1") for n in range(6)]
        return [
            (r.status_code, re.findall(r'role="alert">(.*?)</div>', r.content.decode()))
            for r in responses
        ]

    real, made_up = answers(owner.email), answers("nobody@acme.test")
    assert real == made_up
    assert real[-1] == (429, [signin.lockout_message()])


def test_a_distributed_guess_is_slowed_with_a_growing_delay_not_locked(
    owner: User, agent_a: Agent, settings
) -> None:
    settings.LOGIN_ACCOUNT_FREE_FAILURES = 6
    start = timezone.now()
    with freeze_time(start) as clock:
        for n in range(6):  # six addresses, one guess each: no address is locked
            assert (
                sign_in(Client(), owner.email, "guess", address=f"192.0.2.{n}").status_code == 200
            )
        # Seventh failure: from now on each attempt waits 1, 2, 4 … seconds.
        sign_in(Client(), owner.email, "guess", address="192.0.2.50")
        assert signin.account_pace(owner.email).wait_seconds == 1
        refused = sign_in(Client(), owner.email, PASSWORD, address="192.0.2.51")
        assert refused.status_code == 200
        assert "slowed down. Try again in 1 second." in refused.content.decode()
        clock.tick(timedelta(seconds=1))
        sign_in(Client(), owner.email, "guess", address="192.0.2.52")
        assert signin.account_pace(owner.email).wait_seconds == 2
        clock.tick(timedelta(seconds=2))
        # Not a lockout: once the wait is over, the right password gets in from anywhere.
        assert signed_in(sign_in(Client(), owner.email, PASSWORD, address="198.51.100.99"))
    assert AuditEvent.objects.filter(
        user=owner,
        description="Sign-ins to this account slowed down after 7 failed attempts in 15 minutes",
    ).exists()


def test_a_browser_that_signed_in_before_is_not_slowed(
    owner: User, agent_a: Agent, settings
) -> None:
    settings.LOGIN_ACCOUNT_FREE_FAILURES = 2
    rightful = Client()
    assert signed_in(sign_in(rightful, owner.email, PASSWORD, address="203.0.113.20"))
    rightful.post(reverse("accounts:logout"))
    for n in range(6):
        sign_in(Client(), owner.email, "guess", address=f"192.0.2.{n}")
    assert signin.account_pace(owner.email).slowed

    assert sign_in(Client(), owner.email, PASSWORD, address="203.0.113.21").status_code == 200
    assert signed_in(sign_in(rightful, owner.email, PASSWORD, address="203.0.113.20"))


def test_the_slowing_is_the_same_for_an_account_that_does_not_exist(owner: User, settings) -> None:
    settings.LOGIN_ACCOUNT_FREE_FAILURES = 2
    for email in (owner.email, "nobody@acme.test"):
        for n in range(3):
            sign_in(Client(), email, "guess", address=f"192.0.2.{n}")
    assert signin.account_pace(owner.email) == signin.account_pace("nobody@acme.test")


def test_the_address_comes_from_the_trusted_proxy_as_for_the_api(
    owner: User, agent_a: Agent, settings
) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for n in range(5):
        Client().post(
            LOGIN,
            {"username": owner.email, "password": f"guess-{n}"},
            REMOTE_ADDR="10.0.0.2",
            headers={"X-Forwarded-For": "192.0.2.66"},
        )

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.66"}
    # Another client behind the same proxy is not locked out.
    other = Client().post(
        LOGIN,
        {"username": owner.email, "password": PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        headers={"X-Forwarded-For": "192.0.2.67"},
    )
    assert signed_in(other)


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(owner: User) -> None:
    for n in range(5):
        Client().post(
            LOGIN,
            {"username": owner.email, "password": f"guess-{n}"},
            REMOTE_ADDR="192.0.2.9",
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.9"}


def test_every_failure_and_the_lock_are_in_the_audit_log(owner: User, agent_a: Agent) -> None:
    for n in range(6):
        sign_in(Client(), owner.email, f"guess-{n}")

    descriptions = list(
        AuditEvent.objects.filter(user=owner, status=AuditStatus.FAILURE)
        .order_by("id")
        .values_list("description", flat=True)
    )
    assert descriptions[:4] == ["Sign-in failed: wrong password"] * 4
    assert descriptions[4] == (
        "Sign-in locked for 15 minutes after too many failed attempts from 198.51.100.7"
    )
    assert descriptions[5].startswith("Sign-in refused: locked out")
    assert AuditEvent.objects.filter(ip_address="198.51.100.7").count() == 6


def test_the_owner_lifts_a_lock_from_the_members_page(
    owner: User, admin: User, agent_a: Agent
) -> None:
    for n in range(5):
        sign_in(Client(), admin.email, f"guess-{n}", address="203.0.113.5")
    page = (
        client_for(owner)
        .get(reverse("accounts:members", args=[agent_a.public_id]))
        .content.decode()
    )
    assert "Sign-in locked" in page and "203.0.113.5" in page

    member = admin.memberships.get()
    response = client_for(owner).post(
        reverse("accounts:member-unlock", args=[agent_a.public_id, member.pk]),
        {"address": "203.0.113.5"},
    )

    assert response.status_code == 302
    assert signed_in(sign_in(Client(), admin.email, PASSWORD, address="203.0.113.5"))
    assert AuditEvent.objects.filter(
        user=owner, description=f"Lifted the sign-in lock of {admin.email} from 203.0.113.5"
    ).exists()


def test_an_admin_cannot_lift_a_lock(owner: User, admin: User, agent_a: Agent) -> None:
    member = owner.memberships.get()
    response = client_for(admin).post(
        reverse("accounts:member-unlock", args=[agent_a.public_id, member.pk]),
        {"address": "192.0.2.1"},
    )
    assert response.status_code == 403


def test_the_operator_command_lifts_a_lock(owner: User, agent_a: Agent) -> None:
    for n in range(5):
        sign_in(Client(), owner.email, f"guess-{n}")
    out = StringIO()
    call_command("unlock_sign_in", owner.email.upper(), "--address", "198.51.100.7", stdout=out)

    assert "Unlocked owner@acme.test from 198.51.100.7" in out.getvalue()
    assert signed_in(sign_in(Client(), owner.email, PASSWORD))
    assert AuditEvent.objects.filter(actor="operator", description__contains="Lifted").exists()


def test_the_unlock_command_needs_an_account_or_an_address() -> None:
    with pytest.raises(CommandError, match="Name an account"):
        call_command("unlock_sign_in")
    with pytest.raises(CommandError, match="not an IP address"):
        call_command("unlock_sign_in", "--address", "999.1.1.1")


def test_settings_that_cannot_work_are_reported_by_check(settings) -> None:
    from accounts.checks import check_sign_in_settings

    settings.LOGIN_FAILURES_PER_ADDRESS = 0
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"use_tls": True, "use_ssl": True},
        }
    }
    assert {error.id for error in check_sign_in_settings()} == {"accounts.E001", "accounts.E003"}
