"""`manage.py prune`: the project's retention, run daily (deploy/systemd/a2v2-prune.timer).
Each app deletes its own data (`<app>/retention.py`); this gathers options and counts."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts import retention as accounts_data
from apikeys import retention as apikeys_data
from contacts import retention as contacts_data
from extraction import retention as extraction_data


class Command(BaseCommand):
    help = (
        "Delete old audit events, API keys' usage counts past their retention, keys that "
        "expired long ago, invitations accepted or expired "
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
        parser.add_argument(
            "--usage-days",
            type=int,
            default=settings.APIKEY_USAGE_RETENTION_DAYS,
            help="Keep API keys' usage counts this many days (default "
            f"APIKEY_USAGE_RETENTION_DAYS, now {settings.APIKEY_USAGE_RETENTION_DAYS}).",
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
        if options["usage_days"] < 1:
            raise CommandError("--usage-days must be at least 1.")
        if options["webhook_days"] < 30:
            raise CommandError("--webhook-days must be at least 30.")
        now, dry_run = timezone.now(), options["dry_run"]
        # Each app deletes its own data; this command only gathers the options and the counts.
        counts = {
            **accounts_data.prune(
                now,
                audit_days=options["audit_days"],
                invitation_days=options["invitation_days"],
                dry_run=dry_run,
            ),
            **apikeys_data.prune(
                now,
                expired_key_days=options["expired_key_days"],
                webhook_days=options["webhook_days"],
                usage_days=options["usage_days"],
                dry_run=dry_run,
            ),
            **contacts_data.prune(now, import_hours=options["import_hours"], dry_run=dry_run),
            **extraction_data.prune(now, dry_run=dry_run),
        }
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
                "old webhook event(s), "
                f"{counts['keyUsage'] + counts['keyAddresses']} API key usage row(s)."
            )
