from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from a2v2.backup import BackupError, describe_counts, restore_backup


class Command(BaseCommand):
    help = (
        "Restore a backup written by `manage.py backup` into an EMPTY database (DATABASE_URL, "
        "the same kind as the backup's) and MEDIA_ROOT, then check row counts, every file's "
        "SHA-256, and that KEY_ENCRYPTION_KEYS decrypts the stored API keys. Run "
        "`manage.py migrate` after it when this release is newer than the backup's."
    )
    # The database is empty until the restore: checks that read it would only complain.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", type=Path, help="The .tar file `backup` wrote.")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = restore_backup(options["archive"])
        except BackupError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self.stdout.write(
                f"Restored the backup of {result['createdAt']} (version {result['version']}): "
                f"{describe_counts(result['counts'])}, {result['files']} file(s), all verified."
            )
        if result["keysNotDecryptable"]:
            raise CommandError(
                f"{result['keysNotDecryptable']} API key(s) cannot be decrypted with "
                "KEY_ENCRYPTION_KEYS: set the key-encryption key(s) of the backed-up "
                "deployment, or Copy API Key will fail for those keys."
            )
