from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.cli import clean_name, find_organization
from accounts.models import Agent


class Command(BaseCommand):
    help = "Add an agent to an organization and print its public id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organization", help="Organization name or numeric id.")
        parser.add_argument("name", help="Agent name (up to 100 characters).")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = find_organization(options["organization"])
        agent = Agent.objects.create(
            organization=organization, name=clean_name(options["name"], "agent")
        )
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {"id": agent.public_id, "name": agent.name, "organization": organization.name}
                )
            )
        else:
            self.stdout.write(
                f"Agent {agent.name} created in {organization.name}: {agent.public_id}"
            )
