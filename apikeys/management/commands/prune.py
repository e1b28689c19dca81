from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import AuditEvent
from apikeys import counters
from apikeys.models import ApiKey, KeyAddress, KeyUsage
from contacts.importing import stale_staged_files
from extraction.models import Worker


class Command(BaseCommand):
    help = (
        "Delete old audit events, keys that expired long ago, ended rate-limit windows, "
        "API keys' usage counts past their retention, "
        "contact imports previewed but never confirmed, and heartbeat rows of task workers "
        "not seen for a day."
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
            "--import-hours",
            type=int,
            default=24,
            help="Delete previewed contact imports older than this many hours (default 24).",
        )
        parser.add_argument(
            "--usage-days",
            type=int,
            default=settings.APIKEY_USAGE_RETENTION_DAYS,
            help="Keep API keys' usage counts this many days (default APIKEY_USAGE_RETENTION_DAYS, "
            f"now {settings.APIKEY_USAGE_RETENTION_DAYS}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["audit_days"] < 1 or options["expired_key_days"] < 0:
            raise CommandError("--audit-days must be at least 1 and --expired-key-days at least 0.")
        if options["import_hours"] < 1:
            raise CommandError("--import-hours must be at least 1.")
        if options["usage_days"] < 1:
            raise CommandError("--usage-days must be at least 1.")
        now = timezone.now()
        targets = {
            "auditEvents": AuditEvent.objects.filter(
                created_at__lt=now - timedelta(days=options["audit_days"])
            ),
            "expiredKeys": ApiKey.objects.filter(
                expires_at__lt=now - timedelta(days=options["expired_key_days"])
            ),
            "keyUsage": KeyUsage.objects.filter(
                hour__lt=now - timedelta(days=options["usage_days"])
            ),
            "keyAddresses": KeyAddress.objects.filter(
                hour__lt=now - timedelta(days=options["usage_days"])
            ),
            # Heartbeat rows of task workers that stopped without saying goodbye.
            "workers": Worker.objects.filter(last_seen_at__lt=now - timedelta(days=1)),
        }
        staged = stale_staged_files(now - timedelta(hours=options["import_hours"]))
        counts = {name: qs.count() for name, qs in targets.items()}
        counts["rateCounters"] = counters.store().prune(dry_run=options["dry_run"])
        counts["stagedImports"] = len(staged)
        if not options["dry_run"]:
            for queryset in targets.values():
                queryset.delete()
            for path in staged:
                default_storage.delete(path)
        if options["json"]:
            self.stdout.write(json.dumps({"dryRun": options["dry_run"], **counts}))
        else:
            verb = "Would delete" if options["dry_run"] else "Deleted"
            self.stdout.write(
                f"{verb} {counts['auditEvents']} audit event(s), {counts['expiredKeys']} "
                f"expired key(s), {counts['rateCounters']} rate-limit window(s), "
                f"{counts['stagedImports']} unconfirmed contact import(s), "
                f"{counts['workers']} departed task worker(s), "
                f"{counts['keyUsage'] + counts['keyAddresses']} API key usage row(s)."
            )
