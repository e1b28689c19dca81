"""Webhooks on key events: emitted here, delivered by the task worker, signed, retried.

`emit()` is the one place an event starts: it stores the event and one delivery row per
endpoint that wants it, and queues a task per delivery once the transaction commits. The
delivery row is the source of truth (as the Document row is for extraction jobs):

- a task claims its delivery with a compare-and-set and a lease, so a second message for
  the same delivery, or a message for one already done, does nothing;
- a failed attempt is tried again after WEBHOOK_RETRY_BASE_SECONDS * 2^(attempt-1), up to
  WEBHOOK_MAX_ATTEMPTS in all, through the backend's deferred tasks (both of ours defer);
- `sweep()`, run by every worker and by `manage.py webhooks sweep`, sends again deliveries
  that are overdue (their message was lost, or their worker died during the attempt), and
  emits the periodic events: a key expiring within 14 days, a key expired, a grace period
  ended.

Each request carries `A2V2-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>"
under the endpoint's secret>`; README "Webhooks" shows how a receiver checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.tasks import task
from django.utils import timezone

from a2v2.lib import outbound
from accounts.models import Agent
from apikeys import crypto
from apikeys.models import (
    EXPIRES_SOON,
    ApiKey,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "A2V2-Signature"
# What receivers should accept (README): a signature older than this is a replay.
REPLAY_WINDOW_SECONDS = 300
# A claimed attempt may run this long past its timeout before the sweep sends it again.
LEASE_SLACK_SECONDS = 60
# A pending delivery this long past due has lost its message: the sweep sends it again.
RESEND_AFTER = timedelta(seconds=60)
# Periodic events for keys that expired or whose grace ended at most this long ago (a new
# deployment does not announce every key that expired years before).
LOOKBACK = timedelta(days=7)
RESEND_BATCH = 500


# --- signing ---------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def signature_is_valid(secret: str, header: str, body: bytes, *, now: float | None = None) -> bool:
    """The receiver's check (README shows the same in a few lines): a v1 signature over
    this body made with this secret, at most REPLAY_WINDOW_SECONDS old."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > REPLAY_WINDOW_SECONDS:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


# --- emitting --------------------------------------------------------------------------


def key_data(key: ApiKey) -> dict[str, Any]:
    """What an event says about a key: never a secret or a hash."""
    return {
        "id": key.key_id,
        "name": key.name,
        "permissions": [f"{p.area}:{p.action}" for p in key.permissions],
        "expiresAt": key.expires_at.isoformat() if key.expires_at else None,
        "rotatedAt": key.rotated_at.isoformat() if key.rotated_at else None,
        "graceEndsAt": (
            key.previous_secret_expires_at.isoformat() if key.previous_secret_expires_at else None
        ),
    }


def emit(
    event_type: WebhookEventType,
    agent: Agent,
    data: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    only: WebhookEndpoint | None = None,
) -> WebhookEvent | None:
    """Store the event and queue its deliveries to the agent's endpoints that want it (or to
    `only`). None when nobody wants it, or when `dedupe_key` was emitted before."""
    endpoints = [only] if only else list(WebhookEndpoint.objects.filter(agent=agent))
    endpoints = [endpoint for endpoint in endpoints if endpoint.wants(event_type)]
    if not endpoints:
        return None
    now = timezone.now()
    event = WebhookEvent(agent=agent, type=event_type, dedupe_key=dedupe_key, created_at=now)
    event.payload = {
        "id": f"evt_{event.public_id}",
        "type": str(event_type),
        "created": now.isoformat(),
        "agent": {"id": agent.public_id, "name": agent.name},
        "data": data,
    }
    try:
        with transaction.atomic():
            event.save()
            deliveries = WebhookDelivery.objects.bulk_create(
                WebhookDelivery(endpoint=e, event=event, next_attempt_at=now) for e in endpoints
            )
    except IntegrityError:
        return None  # the same dedupe_key, emitted meanwhile by another process
    pks = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: [send(pk) for pk in pks])
    return event


def emit_key_event(event_type: WebhookEventType, key: ApiKey, **extra: Any) -> None:
    """The call for key actions (views, commands, and i15a's grace and spike watchers):
    `emit_key_event(WebhookEventType.KEY_REFUSED_SPIKE, key, refused=120, window="5m")`."""
    emit(event_type, key.agent, {"key": key_data(key), **extra})


def send(delivery_pk: int, *, run_after: datetime | None = None) -> bool:
    """Hand a delivery to the task backend. A backend that cannot take it (Redis down) does
    not fail the action that emitted it: the sweep sends it again later."""
    try:
        if run_after is not None:
            deliver.using(run_after=run_after).enqueue(delivery_pk)
        else:
            deliver.enqueue(delivery_pk)
    except Exception as error:
        logger.warning(
            "Could not queue webhook delivery %s (%s: %s); the sweep will send it again.",
            delivery_pk,
            type(error).__name__,
            error,
        )
        return False
    return True


# --- delivering ------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempts - 1))


def claim(delivery_pk: int) -> WebhookDelivery | None:
    """Take the delivery's next attempt, or None when it is done or not due (another
    message for it, or one that a retry's own message will handle)."""
    now = timezone.now()
    lease = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + LEASE_SLACK_SECONDS)
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_pk, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, last_attempt_at=now, next_attempt_at=now + lease)
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_pk)


def request_for(delivery: WebhookDelivery, now: float) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(delivery.event.payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "A2V2-Webhooks/1",
        "A2V2-Event": delivery.event.type,
        "A2V2-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: sign(delivery.endpoint.secret, int(now), body),
    }
    return body, headers


@task()
def deliver(delivery_pk: int) -> str:
    delivery = claim(delivery_pk)
    if delivery is None:
        return "skipped"
    try:
        body, headers = request_for(delivery, time.time())
    except crypto.UndecryptableKey:
        return finish(delivery, None, "The signing secret cannot be decrypted: check "
                      "KEY_ENCRYPTION_KEYS (manage.py check --deploy).")  # fmt: skip
    try:
        code = outbound.post(
            delivery.endpoint.url,
            body,
            headers,
            allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        )
    except (outbound.UnsafeDestination, outbound.DeliveryFailed) as error:
        return finish(delivery, None, str(error))
    error = "" if 200 <= code < 300 else f"The endpoint answered {code}."
    return finish(delivery, code, error)


def finish(delivery: WebhookDelivery, code: int | None, error: str) -> str:
    """Record the attempt: delivered, tried again later, or failed for good."""
    delivery.response_status = code
    delivery.error = error[:300]
    if not error:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, None
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        delivery.next_attempt_at = timezone.now() + backoff(delivery.attempts)
    delivery.save(update_fields=["status", "next_attempt_at", "response_status", "error"])
    if delivery.status == DeliveryStatus.PENDING and deliver.get_backend().supports_defer:
        # Without deferred tasks (the immediate backend) the sweep sends it when due.
        send(delivery.pk, run_after=delivery.next_attempt_at)
    if error:
        logger.info("Webhook delivery %s failed: %s", delivery.pk, error)
    return str(delivery.status)


# --- the sweep ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    emitted: int
    resent: int


def sweep(now: datetime | None = None, *, resend_after: timedelta = RESEND_AFTER) -> Sweep:
    """Emit the periodic events, then send overdue deliveries again."""
    now = now or timezone.now()
    emitted = emit_periodic_events(now)
    overdue = WebhookDelivery.objects.overdue(now - resend_after).order_by("next_attempt_at")
    pks = list(overdue.values_list("pk", flat=True)[:RESEND_BATCH])
    for pk in pks:
        send(pk)
    return Sweep(emitted=emitted, resent=len(pks))


PERIODIC: list[tuple[WebhookEventType, str, Callable[[datetime], dict[str, Any]]]] = [
    (
        WebhookEventType.KEY_EXPIRING,
        "expires_at",
        lambda now: {"expires_at__gt": now, "expires_at__lte": now + EXPIRES_SOON},
    ),
    (
        WebhookEventType.KEY_EXPIRED,
        "expires_at",
        lambda now: {"expires_at__lte": now, "expires_at__gt": now - LOOKBACK},
    ),
    (
        WebhookEventType.KEY_GRACE_ENDED,
        "previous_secret_expires_at",
        lambda now: {
            "previous_secret_expires_at__lte": now,
            "previous_secret_expires_at__gt": now - LOOKBACK,
        },
    ),
]


def emit_periodic_events(now: datetime) -> int:
    """Once per key and date (the dedupe key holds the date, so a key given a new expiry
    is announced again). Only agents with endpoints are looked at."""
    emitted = 0
    watched = ApiKey.objects.filter(agent__webhook_endpoints__isnull=False).distinct()
    for event_type, field, window in PERIODIC:
        for key in watched.filter(**window(now)).select_related("agent"):
            moment: datetime = getattr(key, field)
            dedupe = f"{event_type}:{key.pk}:{moment.isoformat()}"
            if WebhookEvent.objects.filter(dedupe_key=dedupe).exists():
                continue
            if emit(event_type, key.agent, {"key": key_data(key)}, dedupe_key=dedupe):
                emitted += 1
    return emitted
