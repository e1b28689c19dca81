from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import twofactor
from accounts.cli import clean_email
from accounts.models import AuditAction, AuditEvent, Organization, User


class Command(BaseCommand):
    help = (
        "Remove a member's second factor (authenticator app and recovery codes), e.g. after "
        "they lost their phone. They sign in with the password alone and, where an "
        "organization requires two-factor, are sent to set it up again. Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The member's email address.")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        email = clean_email(options["email"])
        user = User.objects.filter(email=email).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        had_two_factor = twofactor.has_two_factor(user)
        twofactor.turn_off(user)
        for organization in Organization.objects.for_user(user):
            AuditEvent.record(
                action=AuditAction.UPDATE,
                resource=f"Member {email}",
                description=f"Reset the two-factor authentication of {email} "
                "(manage.py reset_two_factor)",
                organization=organization,
                actor="operator",
            )
        if options["json"]:
            self.stdout.write(json.dumps({"email": email, "had_two_factor": had_two_factor}))
        elif had_two_factor:
            self.stdout.write(f"Two-factor authentication of {email} was removed.")
        else:
            self.stdout.write(f"{email} had no two-factor authentication; nothing to remove.")
