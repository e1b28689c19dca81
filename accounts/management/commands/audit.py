"""`manage.py audit verify [--org ID]` and `manage.py audit export [--format csv|jsonl] …`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, date, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from a2v2.cli import OneLineErrorParser
from accounts import audit
from accounts.models import AuditAction, AuditEvent, Organization


def parse_day(value: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        # ArgumentTypeError, so argparse names the argument and exits 2 instead of a traceback.
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD).") from None
    return datetime.combine(day, time.min, tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Check the audit trail's hash chain (verify) or write it out as CSV or JSON Lines (export)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(
            dest="subcommand", required=True, parser_class=OneLineErrorParser
        )
        verify = sub.add_parser(
            "verify", help="Exit 1 naming the first edited, deleted or reordered event."
        )
        verify.add_argument("--org", type=int, help="One organization's trail (its id).")
        verify.add_argument("--json", action="store_true")
        export = sub.add_parser("export", help="Write events to stdout, oldest first.")
        export.add_argument("--format", choices=sorted(audit.EXPORTERS), default="csv")
        export.add_argument("--org", type=int, help="Only this organization (its id).")
        export.add_argument("--action", choices=AuditAction.values)
        export.add_argument("--since", type=parse_day, help="From this day (UTC), inclusive.")
        export.add_argument("--until", type=parse_day, help="Before this day (UTC).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["org"] is not None and not Organization.objects.filter(pk=options["org"]):
            raise CommandError(f"No organization with id {options['org']}.")
        if options["subcommand"] == "verify":
            self.verify(options)
        else:
            self.export(options)

    def verify(self, options: dict[str, Any]) -> None:
        if options["org"] is not None:
            trails: list[int | None] = [options["org"]]
        else:
            ids = set(AuditEvent.objects.values_list("organization_id", flat=True))
            trails = sorted(ids, key=lambda pk: pk or 0)
        reports = [
            audit.verify(AuditEvent.objects.trail(pk).iterator(chunk_size=2000), pk)
            for pk in trails
        ]
        if options["json"]:
            self.stdout.write(json.dumps([report_json(r) for r in reports]))
        else:
            for report in reports:
                self.stdout.write(report_text(report))
        bad = [r for r in reports if not r.ok]
        if bad:
            first = bad[0]
            raise CommandError(
                f"Audit trail of organization {first.organization_id}: {first.problem}."
            )

    def export(self, options: dict[str, Any]) -> None:
        events = AuditEvent.objects.select_related("user", "agent").order_by("id")
        if options["org"] is not None:
            events = events.filter(organization_id=options["org"])
        events = events.filtered(options["action"] or "")
        if options["since"]:
            events = events.filter(created_at__gte=options["since"])
        if options["until"]:
            events = events.filter(created_at__lt=options["until"])
        try:
            for line in audit.EXPORTERS[options["format"]](events.iterator(chunk_size=2000)):
                self.stdout.write(line)
        except BrokenPipeError:  # `| head`: the reader has all it wanted; exit quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def report_json(report: audit.TrailReport) -> dict[str, Any]:
    return {
        "organization": report.organization_id,
        "ok": report.ok,
        "events": report.events,
        "head": report.head,
        "unchained": report.unchained,
        "firstBadEvent": report.problem.event_id if report.problem else None,
        "problem": report.problem.reason if report.problem else None,
    }


def report_text(report: audit.TrailReport) -> str:
    name = f"organization {report.organization_id}" if report.organization_id else "no organization"
    if report.ok:
        note = f" ({report.unchained} written before the chain)" if report.unchained else ""
        return f"OK   {name}: {report.events} event(s){note}, head {report.head or '(empty)'}"
    return f"BAD  {name}: {report.problem}"
