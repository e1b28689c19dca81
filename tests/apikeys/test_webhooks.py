"""Webhooks on key events: registered by Owners and Admins, delivered signed to a receiver,
retried with backoff, refused for private addresses (SSRF) when saved and when sent."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import Agent, AuditEvent, User
from apikeys import webhooks
from apikeys.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)
from tests.conftest import client_for
from tests.factories import make_key
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db

ALL_EVENTS = [choice.value for choice in webhooks.WebhookEventType if choice != "ping"]
Capture = Callable[..., Any]


def url(name: str, agent: Agent, *args: str) -> str:
    return reverse(name, args=[agent.public_id, *args])


def register(agent: Agent, target: str, events: list[str] | None = None) -> tuple[Any, str]:
    return WebhookEndpoint.register(agent, url=target, events=events or ALL_EVENTS)


def checked(received: Any, secret: str) -> dict[str, Any]:
    header = received.headers["A2V2-Signature"]
    assert webhooks.signature_is_valid(secret, header, received.body), header
    return received.json


# --- the signature --------------------------------------------------------------------


def test_a_signature_covers_the_body_and_the_time() -> None:
    body = b'{"type":"key.created"}'
    now = int(time.time())
    header = webhooks.sign("whsec_x", now, body)

    assert header.startswith(f"t={now},v1=")
    assert webhooks.signature_is_valid("whsec_x", header, body)
    assert not webhooks.signature_is_valid("whsec_y", header, body)
    assert not webhooks.signature_is_valid("whsec_x", header, body + b" ")
    assert not webhooks.signature_is_valid("whsec_x", header, body, now=now + 301)  # replayed
    assert not webhooks.signature_is_valid("whsec_x", "v1=abc", body)


# --- registering ------------------------------------------------------------------------


def test_an_owner_adds_an_endpoint_and_sees_its_secret_once(owner: User, agent_a: Agent) -> None:
    response = client_for(owner).post(
        url("apikeys:webhook-new", agent_a),
        {"url": "https://93.184.216.34/hooks", "description": "CI", "events": ALL_EVENTS},
    )

    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get(agent=agent_a)
    html = response.content.decode()
    assert f'value="{endpoint.secret}"' in html and endpoint.secret.startswith("whsec_")
    assert endpoint.secret not in endpoint.encrypted_secret  # stored encrypted
    assert "no-store" in response["Cache-Control"]
    assert AuditEvent.objects.filter(
        description="Added webhook endpoint https://93.184.216.34/hooks"
    )
    assert (
        endpoint.secret
        not in client_for(owner).get(url("apikeys:webhooks", agent_a)).content.decode()
    )


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("https://127.0.0.1/hook", "127.0.0.1, a private, loopback"),
        ("https://10.1.2.3/hook", "10.1.2.3, a private"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254, a private"),
        ("https://[::1]/hook", "::1, a private"),
        ("https://100.64.0.1/hook", "100.64.0.1, a private"),
        ("https://localhost/hook", "resolves to"),
        ("http://93.184.216.34/hook", "Use an https:// URL."),
        ("https://user:pw@93.184.216.34/hook", "no user name or password"),
    ],
)
def test_a_private_or_plain_http_url_is_refused_when_saved(
    owner: User, agent_a: Agent, target: str, reason: str
) -> None:
    response = client_for(owner).post(
        url("apikeys:webhook-new", agent_a), {"url": target, "events": ALL_EVENTS}
    )

    assert response.status_code == 422
    assert reason in response.content.decode()
    assert f'value="{target}"' in response.content.decode().replace("&amp;", "&")  # kept
    assert not WebhookEndpoint.objects.exists()


@override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True)
def test_the_setting_allows_a_private_http_receiver(owner: User, agent_a: Agent) -> None:
    response = client_for(owner).post(
        url("apikeys:webhook-new", agent_a),
        {"url": "http://127.0.0.1:9/hook", "events": ALL_EVENTS},
    )

    assert response.status_code == 200


def test_an_endpoint_needs_an_event(owner: User, agent_a: Agent) -> None:
    response = client_for(owner).post(
        url("apikeys:webhook-new", agent_a), {"url": "https://93.184.216.34/hooks"}
    )

    assert response.status_code == 422
    assert "Choose at least one event." in response.content.decode()


def test_the_webhook_pages_walk_the_access_matrix(
    owner: User, admin: User, member: User, stranger: User, agent_a: Agent
) -> None:
    endpoint, _ = register(agent_a, "https://93.184.216.34/hooks")
    pages = [
        ("get", url("apikeys:webhooks", agent_a)),
        ("get", url("apikeys:webhook-delete", agent_a, endpoint.public_id)),
        ("post", url("apikeys:webhook-test", agent_a, endpoint.public_id)),
    ]
    for method, page in pages:
        assert getattr(client_for(member), method)(page).status_code == 403, page
        assert getattr(client_for(stranger), method)(page).status_code == 404, page
        assert getattr(client_for(admin), method)(page).status_code in (200, 302), page
    other, _ = register(
        stranger.memberships.get().organization.agents.create(name="G"), "https://93.184.216.34/g"
    )
    assert (
        client_for(owner).get(url("apikeys:webhook-delete", agent_a, other.public_id)).status_code
        == 404
    )


def test_adding_and_deleting_an_endpoint_need_a_fresh_password(owner: User, agent_a: Agent) -> None:
    endpoint, _ = register(agent_a, "https://93.184.216.34/hooks")
    client = client_for(owner, just_signed_in=False)

    added = client.post(url("apikeys:webhook-new", agent_a), {"url": "https://93.184.216.34/x"})
    deleted = client.post(url("apikeys:webhook-delete", agent_a, endpoint.public_id))

    for response in (added, deleted):
        assert "<h1>Confirm access</h1>" in response.content.decode()
    assert WebhookEndpoint.objects.count() == 1


def test_deleting_an_endpoint_is_audited(owner: User, agent_a: Agent) -> None:
    endpoint, _ = register(agent_a, "https://93.184.216.34/hooks")

    response = client_for(owner).post(url("apikeys:webhook-delete", agent_a, endpoint.public_id))

    assert response.status_code == 302
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.filter(
        description="Deleted webhook endpoint https://93.184.216.34/hooks"
    )


def make_due(delivery: WebhookDelivery) -> None:
    """As if its retry time had come."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


# --- delivering -----------------------------------------------------------------------


@override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True)
def test_creating_a_key_delivers_a_signed_event(
    owner: User, agent_a: Agent, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    _, secret = register(agent_a, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        client_for(owner).post(
            url("apikeys:api-key-new", agent_a),
            {"action": "create", "name": "Zapier", "contacts_read": "on",
             "rate_limit_per_minute": 60, "rate_limit_per_hour": 1000},
        )  # fmt: skip

    [received] = receiver.wait_for(1)
    payload = checked(received, secret)
    assert received.path == "/hooks/a2v2"
    assert received.headers["A2V2-Event"] == "key.created"
    assert payload["type"] == "key.created" and payload["id"].startswith("evt_")
    assert payload["data"]["key"]["name"] == "Zapier"
    assert payload["data"]["key"]["permissions"] == ["contacts:read"]
    assert "a2v2_" not in received.body.decode()  # never the key itself
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.response_status, delivery.attempts) == ("succeeded", 200, 1)


@override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True)
def test_rotating_and_deleting_a_key_are_delivered(
    owner: User, agent_a: Agent, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    _, secret = register(agent_a, receiver.url)
    key, _ = make_key(agent_a, "contacts_read", name="Billing")
    client = client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url("apikeys:api-key-rotate", agent_a, key.key_id), {"grace": "24h"})
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url("apikeys:api-key-delete", agent_a, key.key_id))

    rotated, deleted = (checked(r, secret) for r in receiver.wait_for(2))
    assert rotated["type"] == "key.rotated" and rotated["data"]["key"]["graceEndsAt"]
    assert deleted["type"] == "key.deleted" and deleted["data"]["key"]["id"] == key.key_id


@override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True)
def test_an_endpoint_gets_only_the_events_it_chose(
    agent_a: Agent, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    register(agent_a, receiver.url, events=["key.deleted"])
    key, _ = make_key(agent_a, "contacts_read")
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.emit_key_event(WebhookEventType.KEY_CREATED, key)
        webhooks.emit_key_event(WebhookEventType.KEY_DELETED, key)

    assert [r.json["type"] for r in receiver.wait_for(1)] == ["key.deleted"]
    assert WebhookEvent.objects.count() == 1


@override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True)
def test_the_test_button_sends_a_ping(
    owner: User, agent_a: Agent, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    endpoint, secret = register(agent_a, receiver.url, events=["key.deleted"])
    with django_capture_on_commit_callbacks(execute=True):
        client_for(owner).post(url("apikeys:webhook-test", agent_a, endpoint.public_id))

    assert checked(receiver.wait_for(1)[0], secret)["type"] == "ping"
    html = client_for(owner).get(url("apikeys:webhooks", agent_a)).content.decode()
    assert ">Delivered</span>" in html and "<code>ping</code>" in html


@override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True, WEBHOOK_RETRY_BASE_SECONDS=30)
def test_a_failed_delivery_is_retried_with_backoff_then_delivered(
    owner: User, agent_a: Agent, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    _, secret = register(agent_a, receiver.url)
    receiver.statuses = [500, 503]
    key, _ = make_key(agent_a, "contacts_read")
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.emit_key_event(WebhookEventType.KEY_UPDATED, key)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("pending", 1, 500)
    first_wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(seconds=29) < first_wait <= timedelta(seconds=31)
    html = client_for(owner).get(url("apikeys:webhooks", agent_a)).content.decode()
    assert ">Retrying</span>" in html and "The endpoint answered 500." in html

    assert webhooks.sweep(resend_after=timedelta(0)).resent == 0  # not due yet
    make_due(delivery)
    webhooks.sweep(resend_after=timedelta(0))
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_status) == (2, 503)
    assert delivery.next_attempt_at - delivery.last_attempt_at > timedelta(seconds=59)  # doubled

    make_due(delivery)
    webhooks.sweep(resend_after=timedelta(0))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("succeeded", 3, 200)
    bodies = {r.body for r in receiver.wait_for(3)}
    assert len(bodies) == 1  # the same event each time; only the signature's time changes
    assert all(checked(r, secret) for r in receiver.requests)


@override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True, WEBHOOK_MAX_ATTEMPTS=2)
def test_a_delivery_fails_for_good_after_the_last_attempt(
    agent_a: Agent, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    register(agent_a, receiver.url)
    receiver.statuses = [500, 500, 500]
    key, _ = make_key(agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.emit_key_event(WebhookEventType.KEY_UPDATED, key)
    delivery = WebhookDelivery.objects.get()
    make_due(delivery)
    webhooks.sweep(resend_after=timedelta(0))

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 2, None)
    assert webhooks.deliver.call(delivery.pk) == "skipped"  # a late duplicate does nothing


@override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True)
def test_a_second_message_for_a_done_delivery_does_nothing(
    agent_a: Agent, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    register(agent_a, receiver.url)
    key, _ = make_key(agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.emit_key_event(WebhookEventType.KEY_UPDATED, key)

    assert webhooks.deliver.call(WebhookDelivery.objects.get().pk) == "skipped"
    assert len(receiver.wait_for(1)) == 1


@override_settings(
    WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True,
    TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}},
)
def test_with_the_database_queue_a_retry_is_a_deferred_task(agent_a: Agent) -> None:
    endpoint, _ = register(agent_a, "http://127.0.0.1:9/closed")  # nothing listens on 9
    key, _ = make_key(agent_a)
    webhooks.emit(WebhookEventType.KEY_UPDATED, agent_a, {"key": {"id": key.key_id}})
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    assert webhooks.deliver.call(delivery.pk) == "pending"

    delivery.refresh_from_db()
    assert "ConnectionRefusedError" in delivery.error
    retry = DBTaskResult.objects.get(args_kwargs__args=[delivery.pk], run_after__isnull=False)
    assert retry.run_after == delivery.next_attempt_at


# --- SSRF at delivery time ------------------------------------------------------------


def test_a_delivery_to_a_private_address_is_refused_when_sent(
    agent_a: Agent, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    """Saved while the setting allowed it (or the host's DNS changed since): refused now."""
    register(agent_a, receiver.url)
    key, _ = make_key(agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.emit_key_event(WebhookEventType.KEY_UPDATED, key)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and "Use an https:// URL." in delivery.error
    assert receiver.requests == []


def test_dns_rebinding_to_a_private_address_is_refused_when_sent(
    agent_a: Agent, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Capture
) -> None:
    answers = iter(["93.184.216.34", "127.0.0.1"])

    def resolve(host: str, port: int, *args: object, **kwargs: object) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    form_check = webhooks.outbound.destination("https://hooks.example.test/x", allow_private=False)
    assert str(form_check.address) == "93.184.216.34"  # what the form saw when it was saved
    register(agent_a, "https://hooks.example.test/x")
    key, _ = make_key(agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.emit_key_event(WebhookEventType.KEY_UPDATED, key)

    assert "resolves to 127.0.0.1, a private" in WebhookDelivery.objects.get().error


@override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True)
def test_the_connection_goes_to_the_address_resolved_once(
    agent_a: Agent,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    """The host name is looked up once; the request goes to that address, with the URL's
    host name in the Host header."""
    lookups: list[str] = []

    def resolve(host: str, port: int, *args: object, **kwargs: object) -> list[Any]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    port = receiver.url.split(":")[2].split("/")[0]
    register(agent_a, f"http://hooks.example.test:{port}/hooks/a2v2")
    key, _ = make_key(agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.emit_key_event(WebhookEventType.KEY_UPDATED, key)

    [received] = receiver.wait_for(1)
    assert received.headers["Host"] == f"hooks.example.test:{port}"
    assert lookups.count("hooks.example.test") == 1  # (the connect resolves only the IP literal)


# --- periodic events ----------------------------------------------------------------------


@override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True)
def test_the_sweep_announces_expiring_and_expired_keys_once(
    agent_a: Agent, agent_b: Agent, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    _, secret = register(agent_a, receiver.url)
    now = timezone.now()
    make_key(agent_a, name="Soon", expires_at=now + timedelta(days=3))
    make_key(agent_a, name="Later", expires_at=now + timedelta(days=30))
    make_key(agent_a, name="Gone", expires_at=now - timedelta(hours=2))
    make_key(agent_a, name="Long gone", expires_at=now - timedelta(days=60))
    make_key(agent_b, name="Other agent", expires_at=now + timedelta(days=3))

    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.sweep().emitted == 2
    assert webhooks.sweep().emitted == 0

    payloads = [checked(r, secret) for r in receiver.wait_for(2)]
    assert sorted((p["type"], p["data"]["key"]["name"]) for p in payloads) == [
        ("key.expired", "Gone"),
        ("key.expiring", "Soon"),
    ]


@override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True)
def test_the_sweep_announces_an_ended_grace_period(
    agent_a: Agent, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    register(agent_a, receiver.url)
    key, _ = make_key(agent_a, name="Rotated")
    key.rotate(timedelta(hours=1))
    type(key).objects.filter(pk=key.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(minutes=1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.sweep().emitted == 1
    assert receiver.wait_for(1)[0].json["type"] == "key.grace_ended"


def test_manage_py_webhooks_sweep_reports(agent_a: Agent, capsys: Any) -> None:
    call_command("webhooks", "sweep")

    assert "Emitted 0 periodic event(s)" in capsys.readouterr().out


def test_a_command_line_key_action_is_delivered_too(agent_a: Agent) -> None:
    register(agent_a, "https://93.184.216.34/hooks")
    call_command(
        "apikey", "create", "--agent", agent_a.public_id, "--name", "CLI", stdout=io.StringIO()
    )

    assert WebhookEvent.objects.get().type == "key.created"


def test_prune_drops_old_webhook_events_but_not_ones_still_retrying(agent_a: Agent) -> None:
    endpoint, _ = register(agent_a, "https://93.184.216.34/hooks")
    old = timezone.now() - timedelta(days=31)
    done = WebhookEvent.objects.create(
        agent=agent_a, type="key.updated", payload={}, created_at=old
    )
    retrying = WebhookEvent.objects.create(
        agent=agent_a, type="key.updated", payload={}, created_at=old
    )
    WebhookDelivery.objects.create(endpoint=endpoint, event=done, status="succeeded")
    WebhookDelivery.objects.create(endpoint=endpoint, event=retrying, attempts=3)

    out = io.StringIO()
    call_command("prune", stdout=out)

    assert "1 old webhook event(s)" in out.getvalue()
    assert list(WebhookEvent.objects.all()) == [retrying]


def test_rotating_the_key_encryption_key_keeps_signing_secrets_readable(agent_a: Agent) -> None:
    endpoint, secret = register(agent_a, "https://93.184.216.34/hooks")
    with override_settings(
        KEY_ENCRYPTION_KEYS=["a-new-key-encryption-key", "tests-only-key-encryption-key"]
    ):
        call_command("rotate_key_encryption", stdout=io.StringIO())
    with override_settings(KEY_ENCRYPTION_KEYS=["a-new-key-encryption-key"]):
        endpoint.refresh_from_db()
        assert endpoint.secret == secret


@override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True, APIKEY_REFUSED_SPIKE_CALLS=3)
def test_a_spike_of_refused_calls_is_announced_once_per_key_and_hour(
    client: Any, agent_a: Agent, receiver: Receiver, django_capture_on_commit_callbacks: Capture
) -> None:
    from apikeys import keyformat, usage

    _, secret = register(agent_a, receiver.url, events=["key.refused_spike"])
    key, _ = make_key(agent_a, "contacts_read")
    wrong = {"x-api-key": keyformat.compose(key.key_id, keyformat.new_secret())}
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            client.get("/v1/open/keys/me", headers=wrong)
        usage.flush()  # 2 refused: under the threshold
        client.get("/v1/open/keys/me", headers=wrong)
        usage.flush()  # 3 in this hour, counted across flushes: announced
        client.get("/v1/open/keys/me", headers=wrong)
        usage.flush()  # 4: the same hour, not again
    [received] = receiver.wait_for(1)
    event = checked(received, secret)
    assert event["type"] == "key.refused_spike"
    assert event["data"]["key"]["id"] == key.key_id and event["data"]["refused"] == 3
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    assert event["data"]["hour"] == hour.isoformat()
    assert WebhookEvent.objects.filter(type="key.refused_spike").count() == 1
