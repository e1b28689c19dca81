from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts import audit
from accounts.models import AuditAction, AuditEvent, Invitation, Organization
from apikeys import counters
from apikeys.models import ApiKey, DeliveryStatus, WebhookEvent
from contacts.importing import stale_staged_files
from extraction.models import Worker


def record_trail_start(organization_id: int | None) -> None:
    """Pruning cuts the oldest links of the hash chain on purpose: say so in the chain, so
    that `manage.py audit verify` can tell it from a deletion (accounts/audit.py)."""
    first = AuditEvent.objects.trail(organization_id).first()
    if first is None:
        return
    marker = audit.PRUNED_MARKER.format(id=first.pk, previous_hash=first.previous_hash)
    AuditEvent.record(
        action=AuditAction.DELETE,
        resource="Audit log",
        description=f"Pruned old audit events; {marker}",
        organization=Organization.objects.filter(pk=organization_id).first(),
        actor="manage.py prune",
    )


class Command(BaseCommand):
    help = (
        "Delete old audit events, keys that expired long ago, invitations accepted or expired "
        "long ago, ended rate-limit windows, contact imports previewed but never confirmed, "
        "and heartbeat rows of task workers not seen for a day."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--audit-days",
            type=int,
            default=365,
            help="Keep audit events this many days (default 365).",
        )
        parser.add_argument(
            "--expired-key-days",
            type=int,
            default=30,
            help="Delete keys expired more than this many days ago (default 30).",
        )
        parser.add_argument(
            "--invitation-days",
            type=int,
            default=30,
            help="Delete invitations accepted or expired more than this many days ago "
            "(default 30; until then an expired one is listed on Members & roles to resend).",
        )
        parser.add_argument(
            "--import-hours",
            type=int,
            default=24,
            help="Delete previewed contact imports older than this many hours (default 24).",
        )
        parser.add_argument(
            "--webhook-days",
            type=int,
            default=30,
            help="Keep webhook events and their delivery log this many days (default and "
            "least 30: a younger event may still stop the same expiry being announced twice).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["audit_days"] < 1 or options["expired_key_days"] < 0:
            raise CommandError("--audit-days must be at least 1 and --expired-key-days at least 0.")
        if options["invitation_days"] < 0:
            raise CommandError("--invitation-days must be at least 0.")
        if options["import_hours"] < 1:
            raise CommandError("--import-hours must be at least 1.")
        if options["webhook_days"] < 30:
            raise CommandError("--webhook-days must be at least 30.")
        now = timezone.now()
        targets = {
            "auditEvents": AuditEvent.objects.filter(
                created_at__lt=now - timedelta(days=options["audit_days"])
            ),
            "expiredKeys": ApiKey.objects.filter(
                expires_at__lt=now - timedelta(days=options["expired_key_days"])
            ),
            # Old webhook events with their delivery log, once none is still being retried.
            "webhookEvents": WebhookEvent.objects.filter(
                created_at__lt=now - timedelta(days=options["webhook_days"])
            ).exclude(deliveries__status=DeliveryStatus.PENDING),
            "invitations": Invitation.objects.finished_before(
                now - timedelta(days=options["invitation_days"])
            ),
            # Heartbeat rows of task workers that stopped without saying goodbye.
            "workers": Worker.objects.filter(last_seen_at__lt=now - timedelta(days=1)),
        }
        staged = stale_staged_files(now - timedelta(hours=options["import_hours"]))
        counts = {name: qs.count() for name, qs in targets.items()}
        counts["rateCounters"] = counters.store().prune(dry_run=options["dry_run"])
        counts["stagedImports"] = len(staged)
        if not options["dry_run"]:
            trails = set(targets["auditEvents"].values_list("organization_id", flat=True))
            for queryset in targets.values():
                queryset.delete()
            for organization_id in trails:
                record_trail_start(organization_id)
            for path in staged:
                default_storage.delete(path)
        if options["json"]:
            self.stdout.write(json.dumps({"dryRun": options["dry_run"], **counts}))
        else:
            verb = "Would delete" if options["dry_run"] else "Deleted"
            self.stdout.write(
                f"{verb} {counts['auditEvents']} audit event(s), {counts['expiredKeys']} "
                f"expired key(s), {counts['invitations']} finished invitation(s), "
                f"{counts['rateCounters']} rate-limit window(s), "
                f"{counts['stagedImports']} unconfirmed contact import(s), "
                f"{counts['workers']} departed task worker(s), {counts['webhookEvents']} "
                "old webhook event(s)."
            )
