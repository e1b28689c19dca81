"""What `manage.py prune` deletes of the contacts app's data: CSV imports previewed but
never confirmed."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.files.storage import default_storage

from contacts.importing import stale_staged_files


def prune(now: datetime, *, import_hours: int, dry_run: bool) -> dict[str, int]:
    staged = stale_staged_files(now - timedelta(hours=import_hours))
    if not dry_run:
        for path in staged:
            default_storage.delete(path)
    return {"stagedImports": len(staged)}
