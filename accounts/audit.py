"""The audit trail's hash chain and its exports.

Every event stores `previous_hash` (the `hash` of the event before it in the same
organization's trail, "" for the first) and its own `hash`: SHA-256 over a canonical JSON
serialisation of its fields and `previous_hash`. Editing an event changes its hash;
deleting or reordering events breaks the link of the event after them. `verify()` walks a
trail in id order and names the first event where either check fails.

What it cannot see: someone with write access to the database who recomputes every hash
after an edit, or who deletes the newest events. Keep the head hash that `manage.py audit
verify` prints somewhere the database's users cannot write (a log shipper, a backup
manifest), and compare it later.

Pruning (`manage.py prune`) deletes the oldest events on purpose: it writes a chained event
saying where the trail now starts (`PRUNED_MARKER`), and `verify()` accepts a first event
with a previous hash only when such a record vouches for it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import connection

if TYPE_CHECKING:
    from accounts.models import AuditEvent

SCHEME = 1
# The fields a hash covers. Not the agent or user foreign keys: deleting an agent or a user
# sets them to NULL, which must not read as tampering (`actor` keeps the readable name).
HASHED_FIELDS = (
    "organization_id",
    "actor",
    "action",
    "resource",
    "description",
    "status",
    "ip_address",
    "created_at",
)
PRUNED_MARKER = "the trail now starts at event #{id} (previous hash {previous_hash})"
EXPORT_FIELDS = (
    "id",
    "created_at",
    "user",
    "actor",
    "action",
    "resource",
    "description",
    "status",
    "ip_address",
    "agent",
    "previous_hash",
    "hash",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def canonical(values: dict[str, Any], previous_hash: str) -> bytes:
    """The bytes an event's hash covers: sorted keys, no spaces, UTF-8, times in UTC with
    microseconds (what both SQLite and PostgreSQL store and give back unchanged)."""
    document: dict[str, Any] = {"v": SCHEME, "previous_hash": previous_hash}
    for name in HASHED_FIELDS:
        value = values[name]
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        document[name] = value
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(values: dict[str, Any], previous_hash: str) -> str:
    return hashlib.sha256(canonical(values, previous_hash)).hexdigest()


def hash_of(event: AuditEvent) -> str:
    return event_hash({name: getattr(event, name) for name in HASHED_FIELDS}, event.previous_hash)


def lock_trail(organization_id: int | None) -> None:
    """Serialise appends to one organization's trail until the transaction ends, so two
    events never link to the same predecessor. PostgreSQL: a transaction-level advisory
    lock per organization. SQLite takes the database's write lock at BEGIN (IMMEDIATE
    transactions, a2v2/settings.py), which serialises every writer anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Two-key form: (namespace, organization); 0 is the trail of events without one.
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0xA0D1, organization_id or 0])


# Appending runs on every audited write (contacts over the API among them): plain SQL for
# these two, where the ORM's query building cost more than the queries themselves.
TABLE = "accounts_auditevent"


def last_hash(organization_id: int | None) -> str:
    """The hash of the newest chained event in the trail ("" for an empty trail); uses the
    (organization, id) index. Call under `lock_trail`."""
    where = "organization_id = %s" if organization_id is not None else "organization_id IS NULL"
    params = [organization_id] if organization_id is not None else []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT hash FROM {TABLE} WHERE {where} AND hash <> '' ORDER BY id DESC LIMIT 1",
            params,
        )
        row = cursor.fetchone()
    return row[0] if row else ""


def store_hash(event_id: int, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET hash = %s WHERE id = %s", [value, event_id])


@dataclass(frozen=True)
class Problem:
    event_id: int
    reason: str

    def __str__(self) -> str:
        return f"event #{self.event_id}: {self.reason}"


@dataclass(frozen=True)
class TrailReport:
    organization_id: int | None
    events: int
    head: str
    problem: Problem | None
    unchained: int = 0  # written by a release before the chain (a rolling upgrade)

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(events: Iterable[AuditEvent], organization_id: int | None) -> TrailReport:
    """Walk one organization's events in id order; stop at the first bad one.

    Events without a hash were written by the release before the chain while this one was
    being rolled out (migrations are expand/contract): they are counted, not checked. An
    edited event whose hash is blanked to pass for one still breaks the next link."""
    previous = ""
    count = unchained = 0
    first: AuditEvent | None = None
    vouched: set[str] = set()
    for event in events:
        count += 1
        if not event.hash and not event.previous_hash:
            unchained += 1
            continue
        if first is None:
            first = event
        elif event.previous_hash != previous:
            reason = (
                "its previous hash does not match the event before it: "
                "events were deleted or reordered"
            )
            return TrailReport(organization_id, count, previous, Problem(event.pk, reason))
        if hash_of(event) != event.hash:
            reason = "its contents do not match its hash: it was edited"
            return TrailReport(organization_id, count, previous, Problem(event.pk, reason))
        if "the trail now starts at event #" in event.description:
            vouched.add(event.description)
        previous = event.hash
    if first is not None and first.previous_hash:
        marker = PRUNED_MARKER.format(id=first.pk, previous_hash=first.previous_hash)
        if not any(marker in text for text in vouched):
            reason = "it links to an earlier event that is gone and no prune record explains it"
            return TrailReport(organization_id, count, previous, Problem(first.pk, reason))
    return TrailReport(organization_id, count, previous, None, unchained)


# --- exports -------------------------------------------------------------------------


def export_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "created_at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "user": event.user.email if event.user else None,
        "actor": event.actor,
        "action": event.action,
        "resource": event.resource,
        "description": event.description,
        "status": event.status,
        "ip_address": event.ip_address,
        "agent": event.agent.public_id if event.agent else None,
        "previous_hash": event.previous_hash,
        "hash": event.hash,
    }


def jsonl_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    for event in events:
        yield json.dumps(export_row(event), ensure_ascii=False) + "\n"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    """RFC 4180 CSV, one line at a time (for a streaming response). Cells a spreadsheet
    would run as a formula get a leading apostrophe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: Iterable[Any]) -> str:
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(EXPORT_FIELDS)
    for event in events:
        row = export_row(event)
        yield line(_cell(row[name]) for name in EXPORT_FIELDS)


EXPORTERS = {"csv": csv_lines, "jsonl": jsonl_lines}
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}
