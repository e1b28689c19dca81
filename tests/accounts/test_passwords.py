"""Password change for everyone, reset by e-mail link without telling which accounts exist,
and Django's password validators on every way a password is set."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from accounts import signin
from accounts.models import Agent, AuditEvent, User
from tests.conftest import client_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

NEW = "a brand new passphrase"


def test_everyone_changes_their_password(member: User, agent_a: Agent) -> None:
    client = client_for(member)
    assert client.get(reverse("accounts:password_change")).status_code == 200
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW},
    )
    assert response["Location"] == reverse("accounts:account")
    member.refresh_from_db()
    assert member.check_password(NEW)
    assert (
        client.get(reverse("accounts:account")).status_code == 200
    )  # this session stays signed in
    assert AuditEvent.objects.filter(user=member, description="Changed password").exists()


def test_a_weak_or_wrong_password_change_is_refused_inline(member: User) -> None:
    client = client_for(member)
    weak = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"},
    )
    assert weak.status_code == 200 and "This password is entirely numeric." in weak.content.decode()
    wrong = client.post(
        reverse("accounts:password_change"),
        {"old_password": "nope", "new_password1": NEW, "new_password2": NEW},
    )
    assert "Your old password was entered incorrectly" in wrong.content.decode()
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_reset_answers_the_same_for_unknown_addresses(owner: User) -> None:
    known = Client().post(reverse("accounts:password_reset"), {"email": owner.email})
    unknown = Client().post(reverse("accounts:password_reset"), {"email": "nobody@acme.test"})

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("accounts:password_reset_done")
    assert [m.to for m in mail.outbox] == [[owner.email]]


def test_the_reset_link_sets_a_new_password_once_and_lifts_sign_in_locks(
    owner: User, agent_a: Agent
) -> None:
    for n in range(5):
        Client().post(
            reverse("accounts:login"), {"username": owner.email, "password": f"guess-{n}"}
        )
    assert signin.locks_for([owner.email])

    Client().post(reverse("accounts:password_reset"), {"email": owner.email})
    link = re.search(r"http://testserver(/password-reset/\S+/)", mail.outbox[-1].body).group(1)
    client = Client()
    form_url = client.get(link)["Location"]  # Django swaps the token for a session marker
    response = client.post(form_url, {"new_password1": NEW, "new_password2": NEW})

    assert response["Location"] == reverse("accounts:password_reset_complete")
    assert not signin.locks_for([owner.email])
    signed_in = Client().post(reverse("accounts:login"), {"username": owner.email, "password": NEW})
    assert signed_in.status_code == 302
    assert "This link doesn't work" in Client().get(link, follow=True).content.decode()
    assert AuditEvent.objects.filter(description="Reset password with an e-mailed link").exists()


def test_bootstrap_refuses_a_weak_password_with_one_line(db: None) -> None:
    with pytest.raises(CommandError) as refused:
        call_command(
            "bootstrap", "--organization", "Acme", "--email", "ada@acme.test", "--password", "123"
        )
    assert str(refused.value).startswith("Password refused: This password is too short.")
    assert "\n" not in str(refused.value)
    assert not User.objects.exists()


def test_add_member_refuses_a_weak_password(owner: User, agent_a: Agent) -> None:
    with pytest.raises(CommandError, match=r"Password refused: .*too common"):
        call_command("add_member", "Acme", "new@acme.test", "--password", "password")
    assert not User.objects.filter(email="new@acme.test").exists()


def test_generated_passwords_pass_the_validators(db: None) -> None:
    out = StringIO()
    call_command(
        "bootstrap", "--organization", "Acme", "--email", "ada@acme.test", "--json", stdout=out
    )
    password = json.loads(out.getvalue())["owner"]["password"]
    from django.contrib.auth.password_validation import validate_password

    validate_password(password, User.objects.get())
