"""E-mail (invitations, password resets) must reach someone in production: the checks that
say so, `manage.py sendtestemail` saying where a test e-mail went or why it did not, and
the pages when the mail server does not take an e-mail."""

from __future__ import annotations

import json
import socket
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.urls import reverse

from accounts.checks import check_email_reaches_someone, check_sender_address
from accounts.models import Agent, AuditEvent, Invitation, User
from tests.conftest import client_for
from tests.deploy.test_config_errors import GOOD, manage

HTMX = {"HTTP_HX_REQUEST": "true"}
CONSOLE = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}


def smtp(port: int = 587) -> dict[str, dict[str, object]]:
    options = {"host": "127.0.0.1", "port": port, "use_tls": False, "timeout": 3}
    return {
        "default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}
    }


def ids(problems: list) -> list[str]:
    return [problem.id for problem in problems]


@override_settings(MAILERS=CONSOLE, DEBUG=False, HTTPS=True)
def test_the_console_backend_with_production_settings_is_warned_about() -> None:
    assert ids(check_email_reaches_someone()) == ["accounts.W001"]
    with override_settings(HTTPS=False):  # bin/run, a local demo
        assert check_email_reaches_someone() == []
    with override_settings(DEBUG=True):
        assert check_email_reaches_someone() == []
    with override_settings(MAILERS=smtp()):
        assert check_email_reaches_someone() == []


def test_manage_py_check_warns_about_the_console_with_https(tmp_path: Path) -> None:
    done = manage(tmp_path, "check", HTTPS="true", **GOOD)
    assert "(accounts.W001) E-mail is printed to the console" in done.stderr
    quiet = manage(tmp_path, "check", HTTPS="true", EMAIL_BACKEND="smtp", **GOOD)
    assert "accounts.W001" not in quiet.stderr


@override_settings(MAILERS=smtp())
def test_a_sender_without_a_real_domain_is_warned_about_on_deploy() -> None:
    for sender in ("A2V2 <no-reply@localhost>", "a2v2@box.local", "nobody"):
        with override_settings(DEFAULT_FROM_EMAIL=sender):
            assert ids(check_sender_address()) == ["accounts.W002"], sender
    with override_settings(DEFAULT_FROM_EMAIL="A2V2 <no-reply@a2v2.example.com>"):
        assert check_sender_address() == []


def test_sendtestemail_says_where_the_e_mail_went() -> None:
    call_command("sendtestemail", "ops@example.com", stdout=(out := StringIO()))
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]
    assert "Test e-mail to ops@example.com handed to" in out.getvalue()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_sendtestemail_to_an_unreachable_server_is_one_line() -> None:
    port = closed_port()
    with override_settings(MAILERS=smtp(port)), pytest.raises(CommandError) as refused:
        call_command("sendtestemail", "ops@example.com", stdout=StringIO())
    message = str(refused.value)
    assert message.startswith(f"E-mail not sent to the SMTP server 127.0.0.1:{port}: ")
    assert "Connection refused" in message and "\n" not in message


# ---- a mail server that does not answer ------------------------------------------------


def test_an_invitation_that_cannot_be_sent_is_an_inline_error_and_saves_nothing(
    owner: User, agent_a: Agent
) -> None:
    client = client_for(owner)
    url = reverse("accounts:member-invite", args=[agent_a.public_id])
    with override_settings(MAILERS=smtp(closed_port())):
        response = client.post(url, {"email": "new@acme.test", "role": "user"}, **HTMX)

    assert response.status_code == 422
    page = response.content.decode()
    assert "The e-mail could not be sent" in page and 'value="new@acme.test"' in page
    assert not Invitation.objects.exists()
    assert not AuditEvent.objects.filter(resource="Invitation new@acme.test").exists()


def test_a_resend_that_cannot_be_sent_keeps_the_earlier_link(owner: User, agent_a: Agent) -> None:
    client = client_for(owner)
    invite = reverse("accounts:member-invite", args=[agent_a.public_id])
    client.post(invite, {"email": "new@acme.test", "role": "user"})
    earlier = Invitation.objects.get()
    resend = reverse("accounts:invitation-resend", args=[agent_a.public_id, earlier.pk])
    with override_settings(MAILERS=smtp(closed_port())):
        toast = client.post(resend, **HTMX)
        plain = client.post(resend, follow=True)

    assert toast.status_code == 204
    assert "The e-mail could not be sent" in json.loads(toast["HX-Trigger"])["showToast"]["message"]
    assert "The e-mail could not be sent" in plain.content.decode()
    assert list(Invitation.objects.all()) == [earlier]


def test_a_reset_that_cannot_be_sent_answers_as_always(owner: User) -> None:
    with override_settings(MAILERS=smtp(closed_port())):
        known = Client().post(reverse("accounts:password_reset"), {"email": owner.email})
    unknown = Client().post(reverse("accounts:password_reset"), {"email": "nobody@acme.test"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
