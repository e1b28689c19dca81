from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from a2v2.version import version


class Command(BaseCommand):
    help = (
        "Print this release's version (CHANGELOG.md) and whether migrations are pending "
        "(`manage.py version` is Django's own)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            pending: int | None = len(plan)
        except DatabaseError:
            pending = None  # no database reachable: the version alone
        if options["json"]:
            self.stdout.write(json.dumps({"version": version(), "pendingMigrations": pending}))
            return
        line = f"a2v2 {version()}"
        if pending is not None:
            line += f" ({pending} migration(s) pending)" if pending else " (database up to date)"
        self.stdout.write(line)
