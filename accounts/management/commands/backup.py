from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from a2v2.backup import BackupError, create_backup, default_output, describe_counts


class Command(BaseCommand):
    help = (
        "Write a consistent backup of the database and the uploads it refers to into one "
        "tar file, while the app keeps running (PostgreSQL: pg_dump of an exported "
        "snapshot; SQLite: its online backup API). SECRET_KEY and KEY_ENCRYPTION_KEYS are "
        "not in it: keep them with your other secrets (docs/deploy.md, Backup)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            type=Path,
            help="The archive to write (default: var/backups/a2v2-<UTC time>.tar).",
        )
        parser.add_argument("--json", action="store_true", help="Print the manifest as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path = options["output"] or default_output()
        if output.exists():
            raise CommandError(f"{output} exists; choose another --output.")
        try:
            manifest = create_backup(output)
        except BackupError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps({"archive": str(output), **manifest}, indent=2))
            return
        self.stdout.write(
            f"Backup written to {output}: {describe_counts(manifest['counts'])}, "
            f"{len(manifest['files'])} file(s)."
        )
        if manifest["missingFiles"]:
            self.stderr.write(
                f"warning: {len(manifest['missingFiles'])} file(s) the database refers to "
                f"were not in MEDIA_ROOT: {', '.join(manifest['missingFiles'][:5])}"
            )
