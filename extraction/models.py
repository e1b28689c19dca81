"""Uploaded documents of an agent, and what was extracted from them."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

if TYPE_CHECKING:
    from django.http import HttpRequest

from a2v2.uploads import too_large_message
from accounts.models import Agent, AuditAction, AuditEvent, new_public_id
from extraction import pipeline
from extraction.pipeline.sniff import detect

MAX_CORRECTION_LENGTH = 1000


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class DocType(models.TextChoices):
    RECEIPT = "receipt", "Receipt"
    INVOICE = "invoice", "Invoice"
    CONTACT = "contact", "Contact"
    GENERIC = "generic", "Generic"


def upload_path(document: Document, filename: str) -> str:
    # The stored name is ours; the client's name is kept in `original_name` only.
    return f"extraction/{document.agent.public_id}/{document.public_id}"


class DocumentQuerySet(models.QuerySet["Document"]):
    def for_agent(self, agent: Agent) -> DocumentQuerySet:
        return self.filter(agent=agent)

    def stale(self) -> DocumentQuerySet:
        """Jobs whose worker stopped answering: processing past their lease."""
        return self.filter(status=Status.PROCESSING, lease_expires_at__lt=timezone.now())

    def unsent_since(self, moment: datetime) -> DocumentQuerySet:
        """Queued jobs whose last message went out before `moment` (or never went out)."""
        last_sent = Coalesce("enqueued_at", "created_at")
        return (
            self.filter(status=Status.QUEUED)
            .alias(last_sent=last_sent)
            .filter(last_sent__lt=moment)
            .order_by("last_sent")
        )

    def queue_summary(self) -> dict[str, Any]:
        """What monitoring needs: jobs per open status and how long the oldest has waited."""
        now = timezone.now()
        counts = dict(
            self.filter(status__in=[Status.QUEUED, Status.PROCESSING])
            .values_list("status")
            .annotate(n=models.Count("id"))
            .order_by()
        )
        oldest = (
            self.filter(status=Status.QUEUED)
            .aggregate(oldest=models.Min(Coalesce("queued_at", "created_at")))
            .get("oldest")
        )
        return {
            "queued": counts.get(Status.QUEUED, 0),
            "processing": counts.get(Status.PROCESSING, 0),
            "stale": self.stale().count(),
            "oldestQueuedSeconds": round((now - oldest).total_seconds(), 1) if oldest else 0.0,
        }


class Document(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="documents")
    public_id = models.CharField(max_length=24, unique=True, default=new_public_id, editable=False)
    file = models.FileField(upload_to=upload_path, max_length=200)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    media_type = models.CharField(max_length=100)
    requested_type = models.CharField(max_length=10, choices=DocType.choices, blank=True)
    schema = models.JSONField(default=list, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    failure_code = models.CharField(max_length=50, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Which worker holds the lease: a worker that lost it can neither renew it nor finish.
    lease_owner = models.CharField(max_length=64, blank=True, default="", db_default="")
    # When the job last entered the queue (upload, re-run, recovery), and when its last
    # message was handed to the task backend. Nullable, so code of the previous release
    # that does not know them can still insert rows (docs/deploy.md, "Upgrading").
    queued_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True, default="", db_default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    result = models.JSONField(null=True, blank=True)
    corrections = models.JSONField(default=dict, blank=True)

    created_by = models.CharField(max_length=200, help_text="Who uploaded it (key or user).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["agent", "-created_at", "-id"]),
            models.Index(fields=["status", "lease_expires_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.public_id})"

    @property
    def in_progress(self) -> bool:
        """Queued or processing: the pages poll until it ends."""
        return self.status in (Status.QUEUED, Status.PROCESSING)

    @property
    def lease_expired(self) -> bool:
        return self.lease_expires_at is not None and self.lease_expires_at < timezone.now()

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def receive(
        cls,
        agent: Agent,
        name: str,
        data: bytes,
        *,
        requested_type: str = "",
        schema: list[dict[str, str]] | None = None,
        request: HttpRequest | None = None,
        actor: str | None = None,
    ) -> Document:
        """Check, store, audit and queue an upload: the one way a document comes in, from
        the API and from the Documents page alike. Raises `pipeline.ExtractionError` (its
        `http_status` and message say why) for a file too large, empty or of a type the
        pipeline does not read."""
        from extraction.tasks import enqueue, limits  # tasks imports this module

        limit = limits().max_bytes
        if len(data) > limit:
            raise pipeline.TooLarge(too_large_message(limit))
        if not data:
            raise pipeline.Empty("The file is empty.")
        name = name or "upload"
        media_type = detect(data, name)
        with transaction.atomic():
            document = cls(
                agent=agent,
                original_name=name[:255],
                size=len(data),
                sha256=cls.digest(data),
                media_type=media_type,
                requested_type=requested_type if requested_type in DocType.values else "",
                schema=schema or [],
                created_by=actor or getattr(getattr(request, "user", None), "email", ""),
            )
            document.file.save("upload", ContentFile(data), save=False)
            document.save()
            document.record(
                AuditAction.CREATE, "Uploaded a document for extraction", request=request,
                actor=actor,
            )  # fmt: skip
            enqueue(document)
        return document

    # --- the job's life ----------------------------------------------------------------

    @staticmethod
    def new_lease() -> datetime:
        return timezone.now() + timedelta(seconds=settings.EXTRACTION_LEASE_SECONDS)

    def claim(self, owner: str) -> bool:
        """Mark this job as `owner`'s; False if another worker has it or it is finished.

        The row decides, not the queue: of two messages for the same job (a re-sent one,
        a reclaimed one), only the first to claim the row runs it."""
        with transaction.atomic():
            claimed = Document.objects.filter(pk=self.pk, status=Status.QUEUED).update(
                status=Status.PROCESSING,
                lease_expires_at=self.new_lease(),
                lease_owner=owner,
                started_at=timezone.now(),
                attempts=models.F("attempts") + 1,
            )
        if claimed:
            self.refresh_from_db()
        return bool(claimed)

    def renew_lease(self, owner: str) -> bool:
        """The job's heartbeat; False once the lease is no longer `owner`'s."""
        return bool(
            Document.objects.filter(pk=self.pk, status=Status.PROCESSING, lease_owner=owner).update(
                lease_expires_at=self.new_lease()
            )
        )

    def succeed(self, result: dict[str, Any], owner: str) -> bool:
        return self._finish(owner, Status.SUCCEEDED, result=result)

    def fail(self, code: str, reason: str, owner: str | None = None) -> bool:
        return self._finish(owner, Status.FAILED, failure_code=code, failure_reason=reason[:500])

    def _finish(self, owner: str | None, status: Status, **values: Any) -> bool:
        """False when the lease is no longer `owner`'s (another worker took the job over);
        `owner=None` is the recovery sweep, which finishes a job whose lease passed."""
        values |= {"status": status, "finished_at": timezone.now(), "lease_expires_at": None}
        rows = Document.objects.filter(pk=self.pk, status=Status.PROCESSING)
        if owner is not None:
            rows = rows.filter(lease_owner=owner)
        else:
            rows = rows.filter(lease_expires_at__lt=timezone.now())
        finished = rows.update(**values)
        self.refresh_from_db()
        return bool(finished)

    def requeue(self, *, only_if_stale: bool = False) -> bool:
        """Back in the queue, for a re-run or after its worker died; corrections kept.

        With `only_if_stale`, only a job still processing past its lease moves, so of
        several sweeps running at once exactly one re-queues it."""
        rows = Document.objects.filter(pk=self.pk)
        if only_if_stale:
            rows = rows.filter(status=Status.PROCESSING, lease_expires_at__lt=timezone.now())
        moved = rows.update(
            status=Status.QUEUED,
            failure_code="",
            failure_reason="",
            lease_expires_at=None,
            lease_owner="",
            finished_at=None,
            queued_at=timezone.now(),
        )
        self.refresh_from_db()
        return bool(moved)

    def mark_sent(self, task_id: str) -> None:
        """Remember the message just handed to the task backend."""
        Document.objects.filter(pk=self.pk).update(task_id=task_id, enqueued_at=timezone.now())

    def take_resend_turn(self) -> bool:
        """Compare-and-set on `enqueued_at`: of several sweeps that found this job without a
        message, only the one that moves the timestamp first sends a new message."""
        taken = Document.objects.filter(
            pk=self.pk, status=Status.QUEUED, enqueued_at=self.enqueued_at
        ).update(enqueued_at=timezone.now())
        return bool(taken)

    @property
    def waiting_seconds(self) -> float:
        """How long since this job's last message went out (or since upload)."""
        last_sent = self.enqueued_at or self.created_at
        return (timezone.now() - last_sent).total_seconds() if last_sent else 0.0

    def record(
        self,
        action: AuditAction,
        description: str,
        *,
        request: HttpRequest | None = None,
        actor: str | None = None,
    ) -> None:
        """Write what happened to this document into its organization's audit trail."""
        AuditEvent.record(
            action=action,
            resource=f'Document "{self.original_name}" ({self.public_id})',
            description=description,
            organization=self.agent.organization,
            agent=self.agent,
            request=request,
            actor=actor,
        )

    # --- human review -------------------------------------------------------------------

    @staticmethod
    def correction_errors(values: dict[str, Any]) -> dict[str, list[str]]:
        """What is wrong with corrections (field name → messages); empty when they are fine."""
        errors: dict[str, list[str]] = {}
        for name, value in values.items():
            if not 0 < len(name) <= 100:
                errors[name] = ["Field names are 1 to 100 characters."]
            elif isinstance(value, str) and len(value) > MAX_CORRECTION_LENGTH:
                errors[name] = [f"Values are at most {MAX_CORRECTION_LENGTH} characters."]
        return errors

    def correct(
        self,
        values: dict[str, Any],
        *,
        request: HttpRequest | None = None,
        actor: str | None = None,
    ) -> None:
        """Record human corrections (the API's PATCH and the document page) and audit them.

        Check them with :meth:`correction_errors` first."""
        self.corrections = {**self.corrections, **values}
        self.save(update_fields=["corrections", "updated_at"])
        self.record(
            AuditAction.UPDATE,
            f"Corrected fields: {', '.join(values)}",
            request=request,
            actor=actor,
        )

    # --- reading ------------------------------------------------------------------------

    @property
    def fields(self) -> list[dict[str, Any]]:
        """Extracted fields with human corrections applied on top."""
        fields = [dict(f) for f in (self.result or {}).get("fields", [])]
        names = {f["name"] for f in fields}
        for field in fields:
            if field["name"] in self.corrections:
                value = self.corrections[field["name"]]
                # The person's value is the truth: it replaces the normalised one too.
                field |= {"value": value, "normalized": value, "corrected": True, "confidence": 1.0}
        for name, value in self.corrections.items():
            if name not in names:
                fields.append(
                    {
                        "name": name,
                        "value": value,
                        "normalized": None,
                        "confidence": 1.0,
                        "source": None,
                        "corrected": True,
                    }
                )
        return fields

    def field(self, name: str) -> dict[str, Any] | None:
        return next((f for f in self.fields if f["name"] == name), None)

    def field_value(self, name: str) -> Any:
        for field in self.fields:
            if field["name"] == name:
                return field.get("normalized") or field.get("value")
        return None

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        storage, name = self.file.storage, self.file.name
        deleted = super().delete(*args, **kwargs)
        if name:
            transaction.on_commit(lambda: storage.delete(name))
        return deleted


class WorkerQuerySet(models.QuerySet["Worker"]):
    def seen_within(self, seconds: float) -> WorkerQuerySet:
        return self.filter(last_seen_at__gte=timezone.now() - timedelta(seconds=seconds))


class Worker(models.Model):
    """A running task worker, as its own heartbeat reports it (health and metrics)."""

    name = models.CharField(max_length=200, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    backend = models.CharField(max_length=50)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = WorkerQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name

    @classmethod
    def beat(cls, name: str, **identity: Any) -> None:
        cls.objects.update_or_create(
            name=name, defaults={"last_seen_at": timezone.now()}, create_defaults=identity
        )
