"""Usage per key: every authenticated or refused Open API call, counted in the process and
written to the database at most once a minute.

The hot path only adds to two dictionaries under a lock (`count`, called once per request
by ApiKeyMiddleware). `flush` turns what accumulated into one upsert per bucket — a key,
an hour and an outcome/permission (KeyUsage), or a key, an hour and a client address
(KeyAddress) — adding to what other processes wrote. It runs from the request that finds
the last flush older than APIKEY_USAGE_FLUSH_SECONDS, and at process exit (best effort: a
killed worker loses at most that minute). A forked child starts empty, so nothing is
counted twice.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q, Sum

from a2v2.http import client_ip_str
from apikeys import webhooks
from apikeys.models import (
    ApiKey,
    KeyAddress,
    KeyRotation,
    KeyUsage,
    UsageOutcome,
    WebhookEventType,
)

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

# (key pk, hour as a Unix time, outcome, permission code, old secret)
UsageBucket = tuple[int, int, str, str, bool]
# (key pk, hour as a Unix time, address, served, old secret)
AddressBucket = tuple[int, int, str, bool, bool]


@dataclass
class Seen:
    calls: int = 0
    last_seen: float = 0.0
    endpoint: tuple[str, str] = ("", "")  # method and route, formatted at flush


@dataclass
class Accumulator:
    """What this process counted since its last flush."""

    usage: defaultdict[UsageBucket, int] = field(default_factory=lambda: defaultdict(int))
    addresses: dict[AddressBucket, Seen] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_flush: float = field(default_factory=time.monotonic)

    def add(
        self,
        key_pk: int,
        outcome: str,
        permission: str,
        old_secret: bool,
        address: str,
        endpoint: tuple[str, str],
    ) -> None:
        now = time.time()
        hour = int(now) // 3600 * 3600
        served = outcome == UsageOutcome.SERVED
        with self.lock:
            self.usage[(key_pk, hour, outcome, permission, old_secret)] += 1
            seen = self.addresses.get((key_pk, hour, address, served, old_secret))
            if seen is None:
                seen = self.addresses[(key_pk, hour, address, served, old_secret)] = Seen()
            seen.calls += 1
            seen.last_seen = now
            seen.endpoint = endpoint

    def take(self) -> tuple[dict[UsageBucket, int], dict[AddressBucket, Seen]]:
        with self.lock:
            usage, addresses = dict(self.usage), self.addresses
            self.usage, self.addresses = defaultdict(int), {}
            self.last_flush = time.monotonic()
        return usage, addresses

    def due(self) -> bool:
        return time.monotonic() - self.last_flush >= settings.APIKEY_USAGE_FLUSH_SECONDS


accumulator = Accumulator()
HOUR = timedelta(hours=1)


def _reset_in_child() -> None:
    global accumulator
    accumulator = Accumulator()


os.register_at_fork(after_in_child=_reset_in_child)


def outcome_of(request: HttpRequest, response: HttpResponse) -> tuple[ApiKey | None, str]:
    """The key a call presented (None when it named no real key) and what became of it."""
    key: ApiKey | None = getattr(request, "api_key", None)
    if key is not None:
        refused = getattr(request, "key_refused", None)
        if refused is None and response.status_code == 403:
            refused = UsageOutcome.PERMISSION  # an operation that declares no permission
        return key, refused or UsageOutcome.SERVED
    refusal = getattr(request, "key_refusal", None)
    authenticated: ApiKey | None = getattr(request, "usage_key", None)
    if refusal is not None:
        if refusal.key is not None:
            return refusal.key, refusal.reason
        if authenticated is not None:  # refused after authentication, by the counters
            return authenticated, (
                UsageOutcome.FAILURES if refusal.status == 429 else UsageOutcome.UNAVAILABLE
            )
        return None, ""
    if authenticated is not None:  # admitted, then over its rate limit
        return authenticated, UsageOutcome.RATE_LIMIT
    return None, ""


def count(request: HttpRequest, response: HttpResponse) -> None:
    """Count this Open API call against its key (the middleware's one hook), and start a
    grace period waiting for the new secret's first use."""
    if not settings.APIKEY_USAGE_ENABLED:
        return
    key, outcome = outcome_of(request, response)
    if key is None:
        return
    old_secret: bool = getattr(request, "used_previous_secret", False)
    if key.pending_grace is not None and not old_secret and outcome != UsageOutcome.SECRET:
        try:
            key.start_pending_grace()
        except DatabaseError:
            logger.warning("Could not start the grace period of key_id=%s", key.key_id)
    permission = getattr(request, "key_permission", None)
    match = request.resolver_match
    accumulator.add(
        key.pk,
        outcome,
        permission.code if permission is not None else "",
        old_secret,
        client_ip_str(request) or "unknown",
        (request.method or "", match.route if match else request.path),
    )
    if accumulator.due():
        flush()


_ROUTE_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


def endpoint_label(method: str, route: str) -> str:
    """`GET /v1/open/agents/{agent_id}/contacts`: the route, never an id from the URL."""
    path = _ROUTE_PARAMETER.sub(r"{\1}", route)
    return f"{method} /{path.lstrip('/')}"[:200]


def _moment(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, tz=UTC)


def flush() -> int:
    """Write what this process counted; returns the number of buckets written. Buckets of
    keys deleted meanwhile are dropped; a database error drops the minute (logged)."""
    usage, addresses = accumulator.take()
    return write(usage, addresses)


def write(usage: dict[UsageBucket, int], addresses: dict[AddressBucket, Seen]) -> int:
    """Add these counts to what the database holds (`flush`'s second half)."""
    if not usage:
        return 0
    try:
        with transaction.atomic():
            existing = set(
                ApiKey.objects.filter(pk__in={b[0] for b in usage}).values_list("pk", flat=True)
            )
            usage = {b: n for b, n in usage.items() if b[0] in existing}
            addresses = {b: s for b, s in addresses.items() if b[0] in existing}
            _upsert_usage(usage)
            _upsert_addresses(addresses)
            _note_old_secret_use(addresses)
        _announce_spikes(usage)
    except DatabaseError:
        logger.exception("Could not write the API keys' usage counts; this minute is lost")
        return 0
    return len(usage) + len(addresses)


def _announce_spikes(usage: dict[UsageBucket, int]) -> None:
    """A key refused APIKEY_REFUSED_SPIKE_CALLS times or more within one hour (every
    process's counts together): its agent's webhooks hear it once for that hour."""
    threshold = settings.APIKEY_REFUSED_SPIKE_CALLS
    refused_hours = {(b[0], b[1]) for b in usage if b[2] != UsageOutcome.SERVED}
    if not threshold or not refused_hours:
        return
    for key_pk, hour in sorted(refused_hours):
        start = _moment(hour)
        # A range, not equality: on SQLite the rows written by raw SQL keep their "+00:00".
        this_hour = KeyUsage.objects.filter(key_id=key_pk, hour__gte=start, hour__lt=start + HOUR)
        total = this_hour.exclude(outcome=UsageOutcome.SERVED).aggregate(total=Sum("calls"))
        refused = total["total"] or 0
        key = ApiKey.objects.select_related("agent").filter(pk=key_pk).first()
        if refused < threshold or key is None:
            continue
        webhooks.emit(
            WebhookEventType.KEY_REFUSED_SPIKE,
            key.agent,
            {"key": webhooks.key_data(key), "refused": refused, "hour": start.isoformat()},
            dedupe_key=f"key.refused_spike:{key.key_id}:{start:%Y-%m-%dT%H}",
        )


def _upsert_usage(usage: dict[UsageBucket, int]) -> None:
    if not usage:
        return
    table = KeyUsage._meta.db_table
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(usage))
    params: list[object] = []
    # In bucket order: two processes flushing overlapping buckets then lock the rows in the
    # same order, so PostgreSQL never finds them deadlocked (it did, under load).
    for (key_pk, hour, outcome, permission, old_secret), calls in sorted(usage.items()):
        params += [key_pk, _moment(hour), outcome, permission, old_secret, calls]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key_id, hour, outcome, permission, old_secret, calls) "
            f"VALUES {rows} ON CONFLICT (key_id, hour, outcome, permission, old_secret) "
            f"DO UPDATE SET calls = {table}.calls + EXCLUDED.calls",
            params,
        )


def _upsert_addresses(addresses: dict[AddressBucket, Seen]) -> None:
    if not addresses:
        return
    table = KeyAddress._meta.db_table
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(addresses))
    params: list[object] = []
    for (key_pk, hour, address, served, old_secret), seen in sorted(addresses.items()):
        params += [
            key_pk,
            _moment(hour),
            address,
            served,
            old_secret,
            seen.calls,
            _moment(seen.last_seen),
            endpoint_label(*seen.endpoint),
        ]
    # The later of two processes' last calls wins (CASE: SQLite has no GREATEST).
    later = f"EXCLUDED.last_seen_at > {table}.last_seen_at"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key_id, hour, address, served, old_secret, calls, "
            f"last_seen_at, last_endpoint) VALUES {rows} "
            f"ON CONFLICT (key_id, hour, address, served, old_secret) DO UPDATE SET "
            f"calls = {table}.calls + EXCLUDED.calls, "
            f"last_endpoint = CASE WHEN {later} THEN EXCLUDED.last_endpoint "
            f"ELSE {table}.last_endpoint END, "
            f"last_seen_at = CASE WHEN {later} THEN EXCLUDED.last_seen_at "
            f"ELSE {table}.last_seen_at END",
            params,
        )


def _note_old_secret_use(addresses: dict[AddressBucket, Seen]) -> None:
    """Calls made with an old secret, onto the key's latest rotation (its history)."""
    per_key: dict[int, tuple[int, float]] = {}
    for (key_pk, _, _, _, old_secret), seen in addresses.items():
        if old_secret:
            calls, last = per_key.get(key_pk, (0, 0.0))
            per_key[key_pk] = (calls + seen.calls, max(last, seen.last_seen))
    for key_pk, (calls, last) in per_key.items():
        latest = KeyRotation.objects.filter(key_id=key_pk).order_by("-rotated_at", "-id")[:1]
        rotation = KeyRotation.objects.filter(pk__in=latest)
        rotation.update(old_secret_calls=F("old_secret_calls") + calls)
        seen_at = _moment(last)
        rotation.filter(
            Q(old_secret_last_seen_at__isnull=True) | Q(old_secret_last_seen_at__lt=seen_at)
        ).update(old_secret_last_seen_at=seen_at)


@atexit.register
def _flush_at_exit() -> None:
    try:
        flush()
    except Exception:
        logger.warning("Could not write the last usage counts at exit", exc_info=True)
