"""API keys of an agent: what each may do, from where, how often, until when."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import DatabaseError, models, transaction
from django.utils import timezone

from a2v2.lib.client_ip import IPAddress, in_networks, parse_networks
from accounts.models import (
    Agent,
    AgentAudited,
    AuditAction,
    AuditStatus,
    User,
    new_public_id,
)
from apikeys import crypto, keyformat
from apikeys.counters import CountersUnavailable

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.http import HttpRequest

    from a2v2.lib.client_ip import IPNetwork


class Area(StrEnum):
    CONTACTS = "contacts"
    DOCUMENTS = "documents"

    @property
    def label(self) -> str:
        return {"contacts": "Contact Access", "documents": "Document Extraction Access"}[self]

    @property
    def badge(self) -> str:
        return {"contacts": "Contacts", "documents": "Documents"}[self]


class Action(StrEnum):
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class Permission:
    area: Area
    action: Action

    @property
    def field(self) -> str:
        return f"{self.area}_{self.action}"

    @property
    def code(self) -> str:
        """`contacts:read`: how the API, the usage counts and `manage.py apikey` name it."""
        return f"{self.area}:{self.action}"

    def __str__(self) -> str:
        return f"{self.area.label}: {self.action.capitalize()}"


ALL_PERMISSIONS = [Permission(area, action) for area in Area for action in Action]
GRACE_PERIODS = {
    "none": timedelta(0),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}


def grace_length(value: timedelta | None) -> str:
    """`1 hour`, `24 hours`, `7 days`."""
    hours = int(value.total_seconds() // 3600) if value else 0
    if hours >= 48:
        return f"{hours // 24} days"
    return f"{hours} hour{'s' if hours != 1 else ''}"


IDLE_AFTER = timedelta(days=90)
# A permission (or allowlist entry) unused this long, on a key that has had it this long,
# is suggested for removal.
UNUSED_AFTER = timedelta(days=30)
EXPIRES_SOON = timedelta(days=14)
# Expiry dates are days in this zone: workspaces have no time zone of their own (yet).
EXPIRY_ZONE = UTC
EXPIRY_HELP = "The key works until the end of this day (23:59:59 UTC); today is allowed."


def end_of_day(day: date) -> datetime:
    """The one expiry rule, for the UI and `manage.py apikey` alike: a key given an
    expiry date works through the end of that day, in EXPIRY_ZONE."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=EXPIRY_ZONE)


def expiry_day(moment: datetime) -> date:
    return moment.astimezone(EXPIRY_ZONE).date()


def check_expiry_day(day: date) -> None:
    """Today or later (today in EXPIRY_ZONE)."""
    if day < expiry_day(timezone.now()):
        raise ValidationError("Choose today or a later date; the date is in UTC.")


def check_rate_limits(per_minute: int | None, per_hour: int | None) -> None:
    """A per-minute limit above the per-hour limit could never be reached: refuse it."""
    if per_minute is not None and per_hour is not None and per_minute > per_hour:
        raise ValidationError(
            {
                "rate_limit_per_minute": (
                    f"The per-minute limit ({per_minute:,}) cannot be higher than the "
                    f"per-hour limit ({per_hour:,})."
                )
            }
        )


def validate_ip_allowlist(value: str) -> None:
    """Names every bad entry, not just the first."""
    bad = []
    for entry in split_allowlist(value):
        try:
            parse_networks([entry])
        except ValueError:
            bad.append(repr(entry))
    if not bad:
        return
    if len(bad) == 1:
        problem = f"{bad[0]} is not an IP address or CIDR range"
    else:
        problem = f"{', '.join(bad[:-1])} and {bad[-1]} are not IP addresses or CIDR ranges"
    raise ValidationError(
        f"{problem}. Use addresses such as 192.168.1.1 or CIDRs such as 10.0.0.0/8."
    )


def split_allowlist(value: str) -> list[str]:
    return [entry.strip() for entry in value.replace("\n", ",").split(",") if entry.strip()]


def normalize_allowlist(value: str) -> str:
    """`192.168.1.1, 10.0.0.0/8 ,::1` → `192.168.1.1, 10.0.0.0/8, ::1`; duplicates dropped."""
    seen: list[str] = []
    for network in parse_networks(split_allowlist(value)):
        text = str(network.network_address) if network.num_addresses == 1 else str(network)
        if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
            mapped = network.network_address.ipv4_mapped
            text = str(mapped) if network.num_addresses == 1 else text
        if text not in seen:
            seen.append(text)
    return ", ".join(seen)


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def for_agent(self, agent: Agent) -> ApiKeyQuerySet:
        return self.filter(agent=agent)

    def active(self) -> ApiKeyQuerySet:
        now = timezone.now()
        return self.filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))

    def find(self, key_id: str) -> ApiKey | None:
        """The key with this public id, with its agent (the organization loads on demand):
        the hot path's one query, compiled once (apikeys/lookup.py)."""
        from apikeys import lookup

        return lookup.find(key_id, using=self.db)

    def expired(self) -> ApiKeyQuerySet:
        return self.filter(expires_at__lte=timezone.now())

    def update(self, **kwargs: object) -> int:
        """Every process that keeps these keys (apikeys/records.py) learns of the change
        first, unless it touches nothing they keep (the last-use stamp, the Exposed flag)."""
        from apikeys import records

        if records.tells(kwargs) and records.enabled():
            records.changed(self.values_list("key_id", flat=True))
        return super().update(**kwargs)


class ApiKey(AgentAudited, models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="api_keys")
    key_id = models.CharField(max_length=keyformat.KEY_ID_LENGTH, unique=True, editable=False)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    ip_allowlist = models.TextField(
        "IP Address",
        blank=True,
        validators=[validate_ip_allowlist],
        help_text="Comma-separated IPv4/IPv6 addresses or CIDR ranges. Empty: any address.",
    )

    contacts_create = models.BooleanField(default=False)
    contacts_read = models.BooleanField(default=False)
    contacts_update = models.BooleanField(default=False)
    contacts_delete = models.BooleanField(default=False)
    documents_create = models.BooleanField(default=False)
    documents_read = models.BooleanField(default=False)
    documents_update = models.BooleanField(default=False)
    documents_delete = models.BooleanField(default=False)

    rate_limit_per_minute = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    rate_limit_per_hour = models.PositiveIntegerField(
        default=1000, validators=[MinValueValidator(1), MaxValueValidator(10000)]
    )
    expires_at = models.DateTimeField(null=True, blank=True)

    secret_hash = models.CharField(max_length=200, editable=False)
    encrypted_key = models.TextField(blank=True, editable=False)
    previous_secret_hash = models.CharField(max_length=200, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    # When the key (with its right secret) was first sent in a URL since it was issued or
    # last rotated: it may sit in a proxy's logs, so the list asks for a rotation.
    exposed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A rotation whose grace period starts at the new secret's first use: its length, until
    # then (the old secret works meanwhile; previous_secret_expires_at is still unset).
    pending_grace = models.DurationField(null=True, blank=True, editable=False)
    # When each permission (by field name) and the IP allowlist were last granted or changed;
    # absent: since the key was created. Least-privilege suggestions wait UNUSED_AFTER.
    # Nullable: the previous release, still running during an upgrade, inserts keys without it.
    granted_at = models.JSONField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rate_limit_per_minute__gte=1, rate_limit_per_minute__lte=1000),
                name="rate_limit_per_minute_range",
            ),
            models.CheckConstraint(
                condition=models.Q(rate_limit_per_hour__gte=1, rate_limit_per_hour__lte=10000),
                name="rate_limit_per_hour_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    # --- issuing -------------------------------------------------------------------

    def issue_secret(self) -> str:
        """Give the key a new secret; returns the full key string (the only time it is
        known in clear unless an encrypted copy is kept). The caller saves."""
        if not self.key_id:
            self.key_id = keyformat.new_key_id()
        secret = keyformat.new_secret()
        full_key = keyformat.compose(self.key_id, secret)
        self.secret_hash = crypto.hash_secret(self.key_id, secret)
        self.encrypted_key = "" if settings.APIKEY_SHOW_ONCE else crypto.encrypt_key(full_key)
        return full_key

    @classmethod
    def issue(
        cls, agent: Agent, *, created_by: User | None = None, **fields: object
    ) -> tuple[ApiKey, str]:
        key = cls(agent=agent, created_by=created_by, **fields)
        full_key = key.issue_secret()
        key.full_clean()
        key.save()
        return key, full_key

    def rotate(
        self,
        grace: timedelta,
        *,
        on_first_use: bool = False,
        by: User | None = None,
        actor: str = "",
    ) -> str:
        """Roll the secret, keeping every setting. The old secret keeps working for `grace`
        (never past the key's own expiry), counted from now or, `on_first_use`, from the new
        secret's first successful call. Re-checked under a row lock; kept in the key's
        rotation history."""
        with transaction.atomic():
            locked = ApiKey.objects.select_for_update().get(pk=self.pk)
            if locked.is_expired:
                raise ValidationError("An expired key cannot be rotated; create a new key instead.")
            now = timezone.now()
            grace_end = now + grace
            if locked.expires_at is not None:
                grace_end = min(grace_end, locked.expires_at)
            old_hash = locked.secret_hash
            full_key = locked.issue_secret()
            pending = on_first_use and grace_end > now
            locked.previous_secret_hash = old_hash if grace_end > now else ""
            locked.previous_secret_expires_at = (
                grace_end if grace_end > now and not pending else None
            )
            locked.pending_grace = grace if pending else None
            locked.rotated_at = now
            locked.exposed_at = None
            locked.save()
            KeyRotation.objects.create(
                key=locked,
                rotated_at=now,
                rotated_by=by,
                actor=actor or (by.email if by else "system"),
                grace=grace,
                grace_on_first_use=on_first_use,
                grace_started_at=None if pending else now,
                grace_ends_at=locked.previous_secret_expires_at,
            )
        self.refresh_from_db()
        return full_key

    def start_pending_grace(self) -> None:
        """The new secret was just used for the first time: the grace period chosen at
        rotation starts now. Conditional, so only one process starts it."""
        if self.pending_grace is None:
            return
        now = timezone.now()
        grace_end = now + self.pending_grace
        if self.expires_at is not None:
            grace_end = min(grace_end, self.expires_at)
        started = ApiKey.objects.filter(
            pk=self.pk, pending_grace__isnull=False, previous_secret_expires_at__isnull=True
        ).update(previous_secret_expires_at=grace_end, pending_grace=None)
        self.pending_grace = None
        if started:
            self.previous_secret_expires_at = grace_end
            self.rotations.filter(pk=self.latest_rotation_id()).update(
                grace_started_at=now, grace_ends_at=grace_end
            )

    def end_grace(self) -> bool:
        """The old secret stops working now. False when no grace period was running."""
        if not self.in_grace:
            return False
        now = timezone.now()
        ApiKey.objects.filter(pk=self.pk).update(
            previous_secret_hash="", previous_secret_expires_at=None, pending_grace=None
        )
        self.rotations.filter(pk=self.latest_rotation_id()).update(grace_ended_early_at=now)
        self.refresh_from_db()
        return True

    @property
    def in_grace(self) -> bool:
        """The previous secret still works (a running or a not yet started grace period)."""
        return self.previous_secret_valid()

    def latest_rotation_id(self) -> int | None:
        return self.rotations.order_by("-rotated_at", "-id").values_list("id", flat=True).first()

    def upgrade_hash(self, matched: str, secret: str) -> None:
        """Re-hash `secret` under the current hashing key in place of `matched`, the stored
        hash (current or previous, argon2id or an older hashing key) it just verified
        against. Conditional, so a rotation in between is never undone."""
        field = "secret_hash" if matched == self.secret_hash else "previous_secret_hash"
        upgraded = crypto.hash_secret(self.key_id, secret)
        try:
            with transaction.atomic():  # a savepoint: a failure leaves no broken transaction
                ApiKey.objects.filter(pk=self.pk, **{field: matched}).update(**{field: upgraded})
        except (CountersUnavailable, DatabaseError):
            # Redis (apikeys/records.py) or the database refused the write: the secret was
            # verified, so the call is served and the hash upgraded on a later use.
            logger.warning("Could not upgrade the hash of key_id=%s now", self.key_id)
            return
        setattr(self, field, upgraded)

    def rehash_from_copy(self) -> bool:
        """Re-hash the current secret under the current hashing key, reading it from the
        encrypted copy. False when there is no readable copy (show-once) or the copy does
        not verify against the stored hash (then nothing changes)."""
        full_key = self.reveal()
        if full_key is None:
            return False
        try:
            presented = keyformat.parse_full_key(full_key)
        except keyformat.MalformedKey:
            return False
        check = crypto.check_secret(self.secret_hash, self.key_id, presented.secret)
        if presented.key_id != self.key_id or not check.matches:
            return False
        if check.outdated:
            self.upgrade_hash(self.secret_hash, presented.secret)
        return True

    def reveal(self) -> str | None:
        """The full key again, from its encrypted copy (None when no copy is kept).

        Raises `crypto.UndecryptableKey`, logged here, when the copy exists but no
        configured key-encryption key opens it."""
        try:
            return crypto.decrypt_key(self.encrypted_key)
        except crypto.UndecryptableKey as error:
            logger.error(
                "API key %s: its stored copy cannot be decrypted (%s) - KEY_ENCRYPTION_KEYS "
                "is misconfigured; see `manage.py check --deploy` (a2v2.E006).",
                self.key_id,
                error,
            )
            raise

    @property
    def can_reveal(self) -> bool:
        return bool(self.encrypted_key) and not settings.APIKEY_SHOW_ONCE

    # --- authorization ----------------------------------------------------------------

    def allows(self, permission: Permission) -> bool:
        return bool(getattr(self, permission.field))

    @property
    def permissions(self) -> list[Permission]:
        return [p for p in ALL_PERMISSIONS if self.allows(p)]

    def set_permissions(self, permissions: Sequence[Permission]) -> None:
        for permission in ALL_PERMISSIONS:
            setattr(self, permission.field, permission in permissions)

    def mark_granted(self, names: Sequence[str]) -> None:
        """Remember that these permission fields (or "ip_allowlist") were granted or changed
        now: a suggestion to remove them waits UNUSED_AFTER from here. The caller saves."""
        if names:
            now = timezone.now().isoformat()
            self.granted_at = {**(self.granted_at or {}), **dict.fromkeys(names, now)}

    def granted_since(self, name: str) -> datetime:
        value = (self.granted_at or {}).get(name)
        return datetime.fromisoformat(value) if value else self.created_at

    @property
    def areas(self) -> list[Area]:
        """Areas with at least one permission: the Access badges."""
        return [area for area in Area if any(p.area == area for p in self.permissions)]

    def permissions_by_area(self) -> dict[str, list[str]]:
        return {
            area.value: [p.action.value for p in self.permissions if p.area == area]
            for area in Area
        }

    @property
    def networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(split_allowlist(self.ip_allowlist))

    def allows_ip(self, address: IPAddress | None) -> bool:
        if not self.ip_allowlist:
            return True
        return address is not None and in_networks(address, self.networks)

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def previous_secret_valid(self, now: datetime | None = None) -> bool:
        if not self.previous_secret_hash:
            return False
        if self.previous_secret_expires_at is None:
            return self.pending_grace is not None  # its grace starts at the new secret's first use
        return self.previous_secret_expires_at > (now or timezone.now())

    # --- list flags -------------------------------------------------------------------

    @property
    def never_used(self) -> bool:
        return self.last_used_at is None

    @property
    def idle(self) -> bool:
        reference = self.last_used_at or self.created_at
        return reference is not None and timezone.now() - reference >= IDLE_AFTER

    @property
    def expires_soon(self) -> bool:
        return (
            self.expires_at is not None
            and not self.is_expired
            and self.expires_at - timezone.now() <= EXPIRES_SOON
        )

    def clean(self) -> None:
        check_rate_limits(self.rate_limit_per_minute, self.rate_limit_per_hour)
        if self.ip_allowlist:
            with contextlib.suppress(ValueError):  # the field validator reports it
                self.ip_allowlist = normalize_allowlist(self.ip_allowlist)

    @property
    def actor(self) -> str:
        """Who did it, in the audit trail, when a call made with this key did it."""
        return f'API key "{self.name}"'

    @property
    def audit_resource(self) -> str:
        return f'API key "{self.name}" ({self.key_id})'

    def mark_exposed(self, request: HttpRequest) -> None:
        """The key came in a URL: flag it for rotation (once until then) and say so in the
        audit trail. Not revoked: the owner rotates it when the integration is ready."""
        now = timezone.now()
        if not ApiKey.objects.filter(pk=self.pk, exposed_at__isnull=True).update(exposed_at=now):
            return
        self.exposed_at = now
        self.record(
            AuditAction.READ,
            f'API key "{self.name}" was sent in a URL query string and refused; '
            "proxies and browsers may have logged it. Rotate it.",
            request=request,
            actor=self.actor,
            status=AuditStatus.FAILURE,
        )

    def record_use(self, address: IPAddress | None) -> None:
        """Remember when and from where the key was last used, at most about once a minute
        per key across all processes: the conditional update lets only one writer win."""
        now = timezone.now()
        interval = timedelta(seconds=settings.APIKEY_LAST_USED_INTERVAL)
        if self.last_used_at is not None and now - self.last_used_at < interval:
            return
        ApiKey.objects.filter(pk=self.pk, last_used_at=self.last_used_at).update(
            last_used_at=now, last_used_ip=str(address) if address else None
        )
        # Whether this process's update won or another's did, the key was just stamped.
        self.last_used_at = now


class RateCounter(models.Model):
    """Fixed-window request counters for the database rate-limit backend (Redis has its own)."""

    bucket = models.CharField(max_length=100, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.bucket}={self.count}"


# --- webhooks on key events (apikeys/webhooks.py sends them) ---------------------------


class WebhookEventType(models.TextChoices):
    """Every event an endpoint can subscribe to; apikeys/webhooks.py emits them."""

    KEY_CREATED = "key.created", "Key created"
    KEY_UPDATED = "key.updated", "Key updated"
    KEY_ROTATED = "key.rotated", "Key rotated"
    KEY_GRACE_ENDED = "key.grace_ended", "Old secret stopped working (grace period ended)"
    KEY_DELETED = "key.deleted", "Key deleted"
    KEY_EXPIRING = "key.expiring", "Key expires within 14 days"
    KEY_EXPIRED = "key.expired", "Key expired"
    KEY_REFUSED_SPIKE = "key.refused_spike", "Spike of refused calls"
    PING = "ping", "Test event"


SUBSCRIBABLE_EVENTS = [choice for choice in WebhookEventType if choice != WebhookEventType.PING]


class WebhookEndpoint(AgentAudited, models.Model):
    """An HTTPS URL that receives an agent's key events, signed with its own secret."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="webhook_endpoints")
    public_id = models.CharField(max_length=24, unique=True, default=new_public_id, editable=False)
    url = models.URLField("Endpoint URL", max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)
    # The signing secret, encrypted under KEY_ENCRYPTION_KEYS (shown once, when created).
    encrypted_secret = models.TextField(editable=False)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url

    @classmethod
    def register(
        cls, agent: Agent, *, url: str, events: Sequence[str], description: str = "",
        created_by: User | None = None,
    ) -> tuple[WebhookEndpoint, str]:  # fmt: skip
        """A new endpoint and its signing secret (the only time it is returned)."""
        secret = "whsec_" + secrets.token_urlsafe(32)
        endpoint = cls.objects.create(
            agent=agent,
            url=url,
            description=description,
            events=sorted(set(events)),
            encrypted_secret=crypto.encrypt_key(secret),
            created_by=created_by,
        )
        return endpoint, secret

    @property
    def secret(self) -> str:
        secret = crypto.decrypt_key(self.encrypted_secret)
        assert secret is not None
        return secret

    def wants(self, event_type: str) -> bool:
        return event_type == WebhookEventType.PING or event_type in self.events

    @property
    def event_labels(self) -> list[str]:
        return [choice.label for choice in SUBSCRIBABLE_EVENTS if choice in self.events]

    @property
    def wants_everything(self) -> bool:
        return all(choice in self.events for choice in SUBSCRIBABLE_EVENTS)

    @property
    def audit_resource(self) -> str:
        return f"Webhook endpoint {self.url}"[:200]


class WebhookEvent(models.Model):
    """One event, as sent to every endpoint that wants it (its payload is the body)."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="webhook_events")
    public_id = models.CharField(max_length=24, unique=True, default=new_public_id, editable=False)
    type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    payload = models.JSONField()
    # Periodic events (expiring, expired, grace ended) are emitted once per key and date.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.type} ({self.public_id})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDeliveryQuerySet(models.QuerySet["WebhookDelivery"]):
    def for_agent(self, agent: Agent) -> WebhookDeliveryQuerySet:
        return self.filter(endpoint__agent=agent)

    def overdue(self, before: datetime) -> WebhookDeliveryQuerySet:
        """Pending and due before `before`: their message was lost, or their worker died."""
        return self.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=before)


class WebhookDelivery(models.Model):
    """One event to one endpoint: the row, not the task queue, says whether it is done."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint} ({self.status})"

    @property
    def retrying(self) -> bool:
        return self.status == DeliveryStatus.PENDING and self.attempts > 0


class KeyRotation(models.Model):
    """One rotation of a key: when, by whom, the grace chosen, and what the old secret did
    during it (kept up to date by the usage flush, apikeys/usage.py)."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="rotations")
    rotated_at = models.DateTimeField(default=timezone.now)
    rotated_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True)
    actor = models.CharField(max_length=200)
    grace = models.DurationField()
    grace_on_first_use = models.BooleanField(default=False)
    grace_started_at = models.DateTimeField(null=True, blank=True)
    grace_ends_at = models.DateTimeField(null=True, blank=True)
    grace_ended_early_at = models.DateTimeField(null=True, blank=True)
    old_secret_calls = models.PositiveIntegerField(default=0)
    old_secret_last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-rotated_at", "-id"]

    def __str__(self) -> str:
        return f"{self.key_id} rotated {self.rotated_at:%Y-%m-%d %H:%M}"

    @property
    def grace_label(self) -> str:
        if not self.grace:
            return "No grace period"
        length = grace_length(self.grace)
        return f"{length} from the new key's first use" if self.grace_on_first_use else length


class UsageOutcome(models.TextChoices):
    """What became of a counted Open API call."""

    SERVED = "served", "Served"
    PERMISSION = "permission", "Missing permission"
    AGENT = "agent", "Another agent"
    IP = "ip", "IP address not allowed"
    RATE_LIMIT = "rate_limit", "Rate limit"
    EXPIRED = "expired", "Key expired"
    SECRET = "secret", "Wrong or retired secret"
    FAILURES = "failures", "Too many failed attempts"
    UNAVAILABLE = "unavailable", "Rate limiting unavailable"


class KeyUsage(models.Model):
    """Calls of one key in one hour with one outcome and permission: one row per bucket,
    added to by upsert once a minute per process (apikeys/usage.py)."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="usage")
    hour = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=UsageOutcome.choices)
    permission = models.CharField(max_length=30, blank=True)  # "contacts:read", "" for none
    old_secret = models.BooleanField(default=False)
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "hour", "outcome", "permission", "old_secret"],
                name="key_usage_bucket",
            )
        ]
        indexes = [models.Index(fields=["hour"], name="key_usage_hour")]

    def __str__(self) -> str:
        return f"{self.key_id} {self.hour:%Y-%m-%d %H}h {self.outcome} {self.calls}"


class KeyAddress(models.Model):
    """The client addresses a key's calls came from, per hour: how many calls, the last one
    and its endpoint. `served` apart from refused, the old secret apart from the new."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="addresses")
    hour = models.DateTimeField()
    address = models.CharField(max_length=45)  # an IPv4/IPv6 address, or "unknown"
    served = models.BooleanField(default=True)
    old_secret = models.BooleanField(default=False)
    calls = models.PositiveIntegerField(default=0)
    last_seen_at = models.DateTimeField()
    last_endpoint = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "hour", "address", "served", "old_secret"],
                name="key_address_bucket",
            )
        ]
        indexes = [models.Index(fields=["hour"], name="key_address_hour")]

    def __str__(self) -> str:
        return f"{self.key_id} {self.address} {self.calls}"
