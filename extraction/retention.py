"""What `manage.py prune` deletes of the extraction app's data: heartbeat rows of task
workers that stopped without saying goodbye."""

from __future__ import annotations

from datetime import datetime, timedelta

from extraction.models import Worker

DEPARTED_AFTER = timedelta(days=1)


def prune(now: datetime, *, dry_run: bool) -> dict[str, int]:
    workers = Worker.objects.filter(last_seen_at__lt=now - DEPARTED_AFTER)
    count = workers.count()
    if not dry_run:
        workers.delete()
    return {"workers": count}
