from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from a2v2.lib.client_ip import parse_ip
from accounts import signin
from accounts.cli import clean_email
from accounts.models import AuditAction, AuditEvent, Organization, User


class Command(BaseCommand):
    help = (
        "Lift a sign-in lock: an account's failed sign-ins (from every address, or from "
        "--address), or with --address alone, an address's. Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", nargs="?", help="The account's email address.")
        parser.add_argument("--address", help="Only this client address (IPv4 or IPv6).")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        email = clean_email(options["email"]) if options["email"] else None
        address = options["address"]
        if address is not None:
            parsed = parse_ip(address)
            if parsed is None:
                raise CommandError(f"{address!r} is not an IP address.")
            address = str(parsed)
        if not email and not address:
            raise CommandError("Name an account (EMAIL), an --address, or both.")
        forgotten = signin.unlock(email, address)
        record(email, address)
        if options["json"]:
            self.stdout.write(
                json.dumps({"email": email, "address": address, "forgotten": forgotten})
            )
        else:
            who = " from ".join(part for part in (email, address) if part)
            self.stdout.write(f"Unlocked {who}: {forgotten} failed-attempt record(s) forgotten.")


def record(email: str | None, address: str | None) -> None:
    user = User.objects.filter(email=email).first() if email else None
    if user is None:
        return
    where = f" from {address}" if address else ""
    for organization in Organization.objects.for_user(user):
        AuditEvent.record(
            action=AuditAction.UPDATE,
            resource=f"Member {user.email}",
            description=f"Lifted the sign-in lock of {user.email}{where} (unlock_sign_in)",
            organization=organization,
            user=None,
            actor="operator",
        )
