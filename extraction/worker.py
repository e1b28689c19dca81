"""What every task worker does beside running jobs, in a thread of its own so that a worker
blocked waiting for its next message still does it: every EXTRACTION_SWEEP_SECONDS it
reports itself alive (the Worker row health and metrics count) and runs the job sweep
(`extraction.tasks.recover_jobs`): jobs whose worker died are queued again, jobs whose
message was lost are sent again. It also runs the webhook sweep (`apikeys.webhooks.sweep`):
periodic key events, and deliveries whose message was lost.

Why the worker and not a cron job: a job can only run where a worker runs, so a deployment
with workers has the sweep, with nothing else to install or to forget; several workers
sweeping at once is safe, since every change they make is a compare-and-set on the row.
`manage.py recover_jobs` runs one sweep by hand.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading

from django.conf import settings
from django.db import DatabaseError, connection

from a2v2.outage import outage
from apikeys import webhooks
from extraction.models import Worker
from extraction.tasks import recover_jobs

logger = logging.getLogger(__name__)


class WorkerMaintenance:
    def __init__(self, backend: str) -> None:
        self.hostname = socket.gethostname()[:255]
        self.name = f"{self.hostname}:{os.getpid()}:{secrets.token_hex(3)}"
        self.backend = backend
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="worker-maintenance", daemon=True)

    def __enter__(self) -> WorkerMaintenance:
        self.tick()  # at once: a worker that starts after an outage rescues jobs first
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=30)
        # If the database is away, the row ages out of "seen recently"; `prune` deletes it.
        with contextlib.suppress(DatabaseError):
            Worker.objects.filter(name=self.name).delete()

    def tick(self) -> None:
        try:
            Worker.beat(self.name, hostname=self.hostname, pid=os.getpid(), backend=self.backend)
            recovery = recover_jobs()
            webhooks.sweep()
        except DatabaseError as error:
            outage("database").failed(error, "task worker sweep")
            return
        finally:
            connection.close_if_unusable_or_obsolete()
        outage("database").succeeded()
        if recovery.total:
            logger.info(
                "Job sweep: %d queued again (worker lost), %d failed (too many attempts), "
                "%d sent again (message lost).",
                recovery.requeued,
                recovery.failed,
                recovery.resent,
            )

    def _loop(self) -> None:
        try:
            while not self.stopped.wait(settings.EXTRACTION_SWEEP_SECONDS):
                self.tick()
        finally:
            connection.close()
