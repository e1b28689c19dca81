"""`manage.py webhooks sweep`: what every task worker does for webhooks, once, by hand or
from a scheduler (cron, a systemd timer) on a deployment whose workers are elsewhere."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from a2v2.cli import OneLineErrorParser
from apikeys import webhooks


class Command(BaseCommand):
    help = (
        "Webhooks: 'sweep' emits the periodic key events (expiring within 14 days, expired, "
        "grace period ended) and sends again deliveries whose message was lost."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(
            dest="subcommand", required=True, parser_class=OneLineErrorParser
        )
        sub.add_parser("sweep", help="Emit due periodic events; resend overdue deliveries.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = webhooks.sweep()
        self.stdout.write(
            f"Emitted {result.emitted} periodic event(s); sent {result.resent} overdue "
            "delivery(ies) again."
        )
