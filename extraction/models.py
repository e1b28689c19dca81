"""Uploaded documents of an agent, and what was extracted from them."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

if TYPE_CHECKING:
    from django.http import HttpRequest

from accounts.models import Agent, AuditAction, AuditEvent, new_public_id

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
    def lease_expired(self) -> bool:
        return self.lease_expires_at is not None and self.lease_expires_at < timezone.now()

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    # --- the job's life ----------------------------------------------------------------

    def claim(self) -> bool:
        """Mark this job as ours; False if another worker has it or it is finished."""
        lease = timezone.now() + timedelta(seconds=settings.EXTRACTION_LEASE_SECONDS)
        with transaction.atomic():
            claimed = Document.objects.filter(pk=self.pk, status=Status.QUEUED).update(
                status=Status.PROCESSING,
                lease_expires_at=lease,
                started_at=timezone.now(),
                attempts=models.F("attempts") + 1,
            )
        if claimed:
            self.refresh_from_db()
        return bool(claimed)

    def succeed(self, result: dict[str, Any]) -> None:
        self._finish(Status.SUCCEEDED, result=result)

    def fail(self, code: str, reason: str) -> None:
        self._finish(Status.FAILED, failure_code=code, failure_reason=reason[:500])

    def _finish(self, status: Status, **values: Any) -> None:
        values |= {"status": status, "finished_at": timezone.now(), "lease_expires_at": None}
        Document.objects.filter(pk=self.pk, status=Status.PROCESSING).update(**values)
        self.refresh_from_db()

    def requeue(self) -> None:
        """Back in the queue, for a re-run or after its worker died; corrections kept."""
        Document.objects.filter(pk=self.pk).update(
            status=Status.QUEUED,
            failure_code="",
            failure_reason="",
            lease_expires_at=None,
            finished_at=None,
        )
        self.refresh_from_db()

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
