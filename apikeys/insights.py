"""What a key's usage counts say: its usage over a period (the key's page, the API, the
command), the permissions and allowlist entries it does not use (least privilege), and
what its old secret still does during a grace period."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address

from django.utils import timezone

from a2v2.lib.client_ip import in_networks, parse_networks
from apikeys.models import (
    UNUSED_AFTER,
    ApiKey,
    KeyAddress,
    KeyRotation,
    KeyUsage,
    Permission,
    UsageOutcome,
    split_allowlist,
)

# A period: its length and the width of one slot of its chart.
RANGES: dict[str, tuple[timedelta, timedelta]] = {
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(days=1)),
    "30d": (timedelta(days=30), timedelta(days=1)),
}
RANGE_LABELS = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}
# An empty allowlist (any address) is suggested down to the addresses seen only when the
# key was used from this few: beyond, the integration likely moves between addresses.
FEW_ADDRESSES = 5
# The most recently seen addresses listed; the count says how many there were in all.
ADDRESSES_LISTED = 100


@dataclass(frozen=True)
class Slot:
    start: datetime
    served: int
    refused: int

    @property
    def total(self) -> int:
        return self.served + self.refused


@dataclass(frozen=True)
class AddressSeen:
    address: str
    calls: int
    refused: int
    last_seen_at: datetime


@dataclass(frozen=True)
class LastUse:
    at: datetime
    address: str
    endpoint: str


@dataclass
class UsageReport:
    key: ApiKey
    range: str
    since: datetime
    until: datetime
    slots: list[Slot]
    refusals: list[tuple[str, str, int]]  # (outcome, label, calls), most first
    permissions: list[tuple[str, int]]  # (permission code, served calls), most first
    addresses: list[AddressSeen]  # the ADDRESSES_LISTED most recently seen
    address_count: int
    last_use: LastUse | None

    @property
    def served(self) -> int:
        return sum(slot.served for slot in self.slots)

    @property
    def refused(self) -> int:
        return sum(slot.refused for slot in self.slots)

    def as_json(self) -> dict[str, object]:
        last = self.last_use
        return {
            "keyId": self.key.key_id,
            "range": self.range,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "served": self.served,
            "refused": self.refused,
            "refusals": {outcome: calls for outcome, _, calls in self.refusals},
            "permissions": dict(self.permissions),
            "series": [
                {"start": s.start.isoformat(), "served": s.served, "refused": s.refused}
                for s in self.slots
            ],
            "addressCount": self.address_count,
            "addresses": [
                {
                    "address": a.address,
                    "calls": a.calls,
                    "refused": a.refused,
                    "lastSeenAt": a.last_seen_at.isoformat(),
                }
                for a in self.addresses
            ],
            "lastUsed": (
                {"at": last.at.isoformat(), "address": last.address, "endpoint": last.endpoint}
                if last
                else None
            ),
        }


def _floor(moment: datetime, width: timedelta) -> datetime:
    moment = moment.astimezone(UTC)
    if width >= timedelta(days=1):
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def usage_report(key: ApiKey, range_name: str, now: datetime | None = None) -> UsageReport:
    """The key's calls over the last `range_name` (a RANGES key), in slots for the chart."""
    length, width = RANGES[range_name]
    until = now or timezone.now()
    count = int(length / width)
    first = _floor(until, width) - width * (count - 1)
    served: Counter[datetime] = Counter()
    refused: Counter[datetime] = Counter()
    refusals: Counter[str] = Counter()
    permissions: Counter[str] = Counter()
    rows = KeyUsage.objects.filter(key=key, hour__gte=first).values_list(
        "hour", "outcome", "permission", "calls"
    )
    for hour, outcome, permission, calls in rows:
        slot = _floor(hour, width)
        if outcome == UsageOutcome.SERVED:
            served[slot] += calls
            if permission:
                permissions[permission] += calls
        else:
            refused[slot] += calls
            refusals[outcome] += calls
    slots = [
        Slot(start, served[start], refused[start])
        for start in (first + width * i for i in range(count))
    ]
    labels = dict(UsageOutcome.choices)
    addresses = addresses_seen(key, first)
    return UsageReport(
        key=key,
        range=range_name,
        since=first,
        until=until,
        slots=slots,
        refusals=[(o, labels.get(o, o), n) for o, n in refusals.most_common()],
        permissions=permissions.most_common(),
        addresses=addresses[:ADDRESSES_LISTED],
        address_count=len(addresses),
        last_use=last_use(key),
    )


def addresses_seen(
    key: ApiKey, since: datetime, *, old_secret: bool | None = None
) -> list[AddressSeen]:
    rows = KeyAddress.objects.filter(key=key, last_seen_at__gte=since)
    if old_secret is not None:
        rows = rows.filter(old_secret=old_secret)
    calls: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    last: dict[str, datetime] = {}
    for address, served, n, seen in rows.values_list("address", "served", "calls", "last_seen_at"):
        calls[address] += n
        if not served:
            refused[address] += n
        last[address] = max(seen, last.get(address, seen))
    return [
        AddressSeen(address, n, refused[address], last[address])
        for address, n in sorted(calls.items(), key=lambda item: last[item[0]], reverse=True)
    ]


def last_use(key: ApiKey) -> LastUse | None:
    """The key's last served call: when, from where, which endpoint."""
    row = KeyAddress.objects.filter(key=key, served=True).order_by("-last_seen_at").first()
    if row is None:
        return None
    return LastUse(row.last_seen_at, row.address, row.last_endpoint)


# --- least privilege -------------------------------------------------------------------


@dataclass
class Suggestion:
    """What a key could lose without its integration noticing."""

    unused: list[Permission] = field(default_factory=list)
    allowlist: str | None = None  # the narrower allowlist suggested, when there is one
    addresses: list[str] = field(default_factory=list)  # seen in the last UNUSED_AFTER

    def __bool__(self) -> bool:
        return bool(self.unused) or self.allowlist is not None


def suggestions(keys: Iterable[ApiKey], now: datetime | None = None) -> dict[int, Suggestion]:
    """Per key (by pk), in two queries for all the keys together (the keys list)."""
    keys = list(keys)
    now = now or timezone.now()
    since = now - UNUSED_AFTER
    pks = [key.pk for key in keys]
    used: dict[int, set[str]] = {pk: set() for pk in pks}
    served = KeyUsage.objects.filter(key__in=pks, hour__gte=since, outcome=UsageOutcome.SERVED)
    for pk, permission in served.values_list("key", "permission").distinct():
        used[pk].add(permission)
    seen: dict[int, set[str]] = {pk: set() for pk in pks}
    addresses = KeyAddress.objects.filter(key__in=pks, last_seen_at__gte=since, served=True)
    for pk, address in addresses.values_list("key", "address").distinct():
        seen[pk].add(address)
    return {key.pk: suggest(key, used[key.pk], seen[key.pk], now) for key in keys}


def suggest(key: ApiKey, used: set[str], seen: set[str], now: datetime) -> Suggestion:
    """Permissions held for UNUSED_AFTER and not used in it; an allowlist unchanged for
    UNUSED_AFTER with entries no served call came from (or, empty, a key used from only a
    few addresses)."""
    unused = [
        p
        for p in key.permissions
        if p.code not in used and now - key.granted_since(p.field) >= UNUSED_AFTER
    ]
    return Suggestion(unused, narrower_allowlist(key, seen, now), sorted(seen))


def narrower_allowlist(key: ApiKey, seen: set[str], now: datetime) -> str | None:
    if now - key.granted_since("ip_allowlist") < UNUSED_AFTER or not seen or "unknown" in seen:
        return None
    addresses = [ip_address(a) for a in seen]
    if not key.ip_allowlist:
        if len(addresses) > FEW_ADDRESSES:
            return None
        return ", ".join(str(a) for a in sorted(addresses, key=lambda a: (a.version, a)))
    entries = split_allowlist(key.ip_allowlist)
    kept = [e for e in entries if any(in_networks(a, parse_networks([e])) for a in addresses)]
    if not kept or kept == entries:
        return None
    return ", ".join(kept)


def narrow(key: ApiKey, what: str) -> str | None:
    """Apply the key's suggestion as computed now — "permissions" or "allowlist" — and say
    what changed, for the audit trail; None when there is nothing to remove."""
    suggestion = suggestions([key])[key.pk]
    if what == "permissions" and suggestion.unused:
        key.set_permissions([p for p in key.permissions if p not in suggestion.unused])
        removed = ", ".join(str(p) for p in suggestion.unused)
        description = f'Removed unused permissions from API key "{key.name}": {removed}'
    elif what == "allowlist" and suggestion.allowlist:
        description = (
            f'Narrowed the IP allowlist of API key "{key.name}" from '
            f"{key.ip_allowlist or 'any address'} to {suggestion.allowlist}"
        )
        key.ip_allowlist = suggestion.allowlist
        key.mark_granted(["ip_allowlist"])
    else:
        return None
    key.full_clean()
    key.save()
    return description


# --- rotation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GraceWatch:
    """A rotation's grace period in progress: what the old secret still does."""

    rotation: KeyRotation
    calls: int
    last_seen_at: datetime | None
    addresses: list[AddressSeen]


def grace_watch(key: ApiKey) -> GraceWatch | None:
    if not key.in_grace:
        return None
    rotation = key.rotations.first()
    if rotation is None:
        return None
    addresses = addresses_seen(key, rotation.rotated_at, old_secret=True)
    return GraceWatch(
        rotation=rotation,
        calls=rotation.old_secret_calls,
        last_seen_at=rotation.old_secret_last_seen_at,
        addresses=addresses,
    )


# --- the chart ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    slot: Slot
    x: float
    width: float
    served_y: float
    served_height: float
    refused_y: float
    refused_height: float
    label: str  # the slot, for the axis and the bar's title
    tick: bool  # label shown under the axis


@dataclass(frozen=True)
class Chart:
    """A stacked bar chart's geometry (SVG user units), drawn by the key page's template:
    served calls solid, refused calls hatched on top, so no colour is needed to tell them."""

    width: int
    height: int
    plot_left: int
    plot_bottom: int
    top: int
    bars: list[Bar]
    gridlines: list[tuple[float, int]]  # (y, value)


def chart(report: UsageReport) -> Chart:
    width, height, left, bottom, top = 720, 220, 48, 190, 12
    peak = max((slot.total for slot in report.slots), default=0)
    scale_max = _nice_ceiling(peak)
    per_call = (bottom - top) / scale_max
    step = (width - left) / len(report.slots)
    hourly = RANGES[report.range][1] < timedelta(days=1)
    every = 3 if hourly else (1 if len(report.slots) <= 7 else 5)
    bars = []
    for index, slot in enumerate(report.slots):
        served_height = slot.served * per_call
        refused_height = slot.refused * per_call
        label = slot.start.strftime("%H:00") if hourly else slot.start.strftime("%b %-d")
        bars.append(
            Bar(
                slot=slot,
                x=round(left + index * step + step * 0.15, 2),
                width=round(step * 0.7, 2),
                served_y=round(bottom - served_height, 2),
                served_height=round(served_height, 2),
                refused_y=round(bottom - served_height - refused_height, 2),
                refused_height=round(refused_height, 2),
                label=label,
                tick=(len(report.slots) - 1 - index) % every == 0,
            )
        )
    gridlines = [(round(bottom - v * per_call, 2), v) for v in (0, scale_max // 2, scale_max)]
    return Chart(width, height, left, bottom, top, bars, gridlines)


def _nice_ceiling(value: int) -> int:
    """The chart's top: 4, 10, 20, 50, 100, … at or above `value` (even, to halve)."""
    nice = 4
    while nice < value:
        for factor in (2.5, 2, 2):
            nice = int(nice * factor)
            if nice >= value:
                break
    return nice
