from __future__ import annotations

import os
from typing import Any

from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorker

from extraction.worker import WorkerMaintenance


class Command(DatabaseWorker):
    help = (
        "Run a database task worker (django-tasks-db's db_worker), which also reports "
        "itself alive and sweeps the extraction jobs: it queues again jobs whose worker "
        "died and sends again jobs whose message was lost (docs/deploy.md)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("reload") and os.environ.get(DJANGO_AUTORELOAD_ENV) != "true":
            # The autoreloader's parent only restarts the child, which does the work.
            return super().handle(*args, **options)
        with WorkerMaintenance("database"):
            super().handle(*args, **options)
