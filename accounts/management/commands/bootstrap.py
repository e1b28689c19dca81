from __future__ import annotations

import json
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.cli import clean_email, clean_name, clean_password
from accounts.models import Agent, Membership, Organization, Role, User


class Command(BaseCommand):
    help = (
        "Create an organization, its owner and an agent. Safe to run again: existing "
        "records are reused, and an existing owner's password is left alone unless "
        "--password is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", required=True, help="Organization (workspace) name.")
        parser.add_argument("--email", required=True, help="The owner's email address.")
        parser.add_argument("--password", help="The owner's password (generated when omitted).")
        parser.add_argument("--agent", default="Default agent", help="Agent name.")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        email = clean_email(options["email"])
        org_name = clean_name(options["organization"], "organization")
        agent_name = clean_name(options["agent"], "agent")
        if options["password"] is not None:
            clean_password(options["password"], email)
        result = bootstrap(org_name, email, agent_name, options["password"])
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(
            f"Organization: {result['organization']['name']} "
            f"({'created' if result['organization']['created'] else 'existing'})\n"
            f"Owner:        {email} "
            f"({'created' if result['owner']['created'] else 'existing'})\n"
            f"Agent:        {agent_name} ({result['agent']['id']})"
        )
        if result["owner"]["password"]:
            self.stdout.write(f"Password:     {result['owner']['password']}")


@transaction.atomic
def bootstrap(org_name: str, email: str, agent_name: str, password: str | None) -> dict[str, Any]:
    user = User.objects.filter(email=email).first()
    user_created = user is None
    if user is None:
        password = password or secrets.token_urlsafe(12)
        user = User.objects.create_user(email, password)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])

    ownership = (
        Membership.objects.filter(user=user, role=Role.OWNER, organization__name=org_name)
        .select_related("organization")
        .first()
    )
    if ownership is None and Organization.objects.filter(name=org_name).exists():
        raise CommandError(
            f"An organization named {org_name!r} exists with another owner; choose another name."
        )
    organization = (
        ownership.organization if ownership else Organization.create_with_owner(org_name, user)
    )
    agent, agent_created = Agent.objects.get_or_create(organization=organization, name=agent_name)
    return {
        "organization": {
            "id": organization.pk,
            "name": organization.name,
            "created": ownership is None,
        },
        "owner": {"email": email, "created": user_created, "password": password},
        "agent": {"id": agent.public_id, "name": agent.name, "created": agent_created},
    }
