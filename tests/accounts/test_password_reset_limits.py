"""The "Forgot your password?" page, limited per client address and per address typed
(accounts/resets.py): the answers never tell whether an account exists, a flooded mailbox
stops receiving, and every request for an account is in its Audit Logs."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import Agent, AuditEvent, AuditStatus, User
from accounts.tasks import answer_reset_request
from apikeys import counters

pytestmark = pytest.mark.django_db


def ask_reset(email: str, address: str = "198.51.100.7"):
    return Client().post(reverse("accounts:password_reset"), {"email": email}, REMOTE_ADDR=address)


def answer(response) -> tuple[int, str]:
    """What the asker sees: the status and where it leads."""
    return response.status_code, response.get("Location", "")


def test_a_mailbox_gets_three_resets_an_hour_and_the_answer_never_changes(
    owner: User, agent_a: Agent
) -> None:
    # From a new address each time: the per-address budget is not what stops it.
    known = [ask_reset(owner.email, f"203.0.113.{n}") for n in range(5)]
    unknown = [ask_reset("nobody@acme.test", f"192.0.2.{n}") for n in range(5)]

    done = (302, reverse("accounts:password_reset_done"))
    assert [answer(r) for r in known] == [answer(r) for r in unknown] == [done] * 5
    assert [m.to for m in mail.outbox] == [[owner.email]] * 3
    events = AuditEvent.objects.filter(user=owner).order_by("id")
    assert [(e.description, e.status) for e in events] == [
        ("Asked for a password reset e-mail", AuditStatus.SUCCESS)
    ] * 3 + [
        (
            "Password reset e-mail not sent: too many asked for this address within the hour",
            AuditStatus.FAILURE,
        )
    ] * 2
    page = Client().get(reverse("accounts:password_reset_done")).content.decode()
    assert "At most 3 emails an hour go to one address" in page
    assert "for 60 minutes" in page


def test_the_mailbox_receives_again_in_the_next_hour(owner: User, agent_a: Agent) -> None:
    for n in range(4):
        ask_reset(owner.email, f"203.0.113.{n}")
    assert len(mail.outbox) == 3
    with freeze_time(timezone.now() + timedelta(hours=1)):
        ask_reset(owner.email)
    assert len(mail.outbox) == 4


def test_one_network_asking_too_often_is_told_when_to_retry_whatever_it_types(
    owner: User, agent_a: Agent
) -> None:
    for n in range(10):
        assert ask_reset(f"someone-{n}@acme.test").status_code == 302

    refused_known = ask_reset(owner.email)
    refused_unknown = ask_reset("nobody@acme.test")

    for refused, typed in ((refused_known, owner.email), (refused_unknown, "nobody@acme.test")):
        assert refused.status_code == 429
        assert 1 <= int(refused["Retry-After"]) <= 3600
        page = refused.content.decode()
        assert "Too many password reset requests from your network. Try again in" in page
        assert f'value="{typed}"' in page  # the form keeps what was typed, to try later
    assert mail.outbox == []
    refusal = AuditEvent.objects.get(user=owner)
    assert refusal.description == "Password reset refused: too many requests from this network"
    assert (refusal.status, refusal.ip_address) == (AuditStatus.FAILURE, "198.51.100.7")
    # Another network is not held back by this one.
    assert answer(ask_reset(owner.email, "203.0.113.9")) == (
        302,
        reverse("accounts:password_reset_done"),
    )
    assert [m.to for m in mail.outbox] == [[owner.email]]


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_behind_the_proxy_the_forwarded_client_is_counted(owner: User) -> None:
    def via_proxy(client_address: str):
        return Client().post(
            reverse("accounts:password_reset"),
            {"email": "nobody@acme.test"},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=client_address,
        )

    assert [via_proxy("198.51.100.7").status_code for _ in range(11)][-1] == 429
    assert via_proxy("203.0.113.20").status_code == 302


@override_settings(PASSWORD_RESETS_PER_ADDRESS=1, PASSWORD_RESETS_PER_EMAIL=1)
def test_the_budgets_follow_the_settings(owner: User, agent_a: Agent) -> None:
    assert ask_reset(owner.email).status_code == 302
    assert ask_reset("nobody@acme.test").status_code == 429
    assert ask_reset(owner.email, "203.0.113.9").status_code == 302
    assert len(mail.outbox) == 1


def counters_down(*args: object, **kwargs: object) -> list[int]:
    raise counters.CountersUnavailable("Connection refused")


@mock.patch("apikeys.counters.add", counters_down)
def test_without_the_counters_resets_are_refused_when_failing_closed(owner: User) -> None:
    response = ask_reset(owner.email)
    assert response.status_code == 503
    assert "Password reset is unavailable for a moment" in response.content.decode()
    assert mail.outbox == []


@override_settings(RATELIMIT_ON_CACHE_FAILURE="open")
@mock.patch("apikeys.counters.add", counters_down)
def test_without_the_counters_resets_are_sent_when_failing_open(owner: User) -> None:
    assert ask_reset(owner.email).status_code == 302
    assert [m.to for m in mail.outbox] == [[owner.email]]


def test_every_request_queues_the_same_work_account_or_not(owner: User) -> None:
    with mock.patch("accounts.security_views.answer_reset_request") as task:
        ask_reset(owner.email)
        ask_reset("nobody@acme.test")
    assert [call.args for call in task.enqueue.call_args_list] == [
        (owner.email, "send", "198.51.100.7", "testserver", False),
        ("nobody@acme.test", "send", "198.51.100.7", "testserver", False),
    ]
    # Nothing sent or audited by the page itself: that is the worker's.
    assert mail.outbox == [] and not AuditEvent.objects.exists()


def test_a_reset_is_answered_in_the_page_when_the_task_queue_is_down(owner: User) -> None:
    with mock.patch("accounts.security_views.answer_reset_request") as task:
        task.enqueue.side_effect = ConnectionError("Redis is down")
        task.call.side_effect = answer_reset_request.call
        response = ask_reset(owner.email)
    assert answer(response) == (302, reverse("accounts:password_reset_done"))
    assert [m.to for m in mail.outbox] == [[owner.email]]
