from __future__ import annotations

import json
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.cli import clean_email, clean_password, find_organization
from accounts.models import Role, User


class Command(BaseCommand):
    help = "Add a user to an organization as Admin or User (creating the user if needed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organization", help="Organization name or numeric id.")
        parser.add_argument("email", help="The member's email address.")
        parser.add_argument("--role", choices=[Role.ADMIN, Role.USER], default=Role.USER)
        parser.add_argument("--password", help="Password for a new user (generated when omitted).")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        email = clean_email(options["email"])
        if options["password"] is not None:
            clean_password(options["password"], email)
        organization = find_organization(options["organization"])
        user = User.objects.filter(email=email).first()
        password = None
        if user is None:
            password = options["password"] or secrets.token_urlsafe(12)
            user = User.objects.create_user(email, password)
        try:
            membership = organization.add_member(user, Role(options["role"]))
        except ValueError as error:
            raise CommandError(str(error)) from None
        result = {
            "organization": organization.name,
            "email": email,
            "role": membership.role,
            "password": password,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"{email} is now {membership.get_role_display()} of {organization.name}."
            )
            if password:
                self.stdout.write(f"Password: {password}")
