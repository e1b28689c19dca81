from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from extraction.tasks import recover_jobs


class Command(BaseCommand):
    help = (
        "Run the job sweep once (every task worker runs it every EXTRACTION_SWEEP_SECONDS): "
        "queue again the jobs whose worker died, fail those that used up "
        "EXTRACTION_MAX_ATTEMPTS, and send again the queued jobs whose message the task "
        "backend lost."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        recovery = recover_jobs()
        counts = {
            "requeued": recovery.requeued,
            "failed": recovery.failed,
            "resent": recovery.resent,
        }
        if options["json"]:
            self.stdout.write(json.dumps(counts))
        else:
            self.stdout.write(
                f"{recovery.requeued} job(s) queued again (worker lost), {recovery.failed} "
                f"failed (too many attempts), {recovery.resent} sent again (message lost)."
            )
