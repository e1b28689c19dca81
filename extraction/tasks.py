"""Background extraction jobs, through Django's Tasks framework.

The database queue (django-tasks-db) is the default; a Redis-backed backend replaces it in
scale-out (TASKS_BACKEND). The Document row, not the queue, is the source of truth:

- a job is claimed with a short lease that a heartbeat renews while it runs, so a job whose
  worker died is noticed within EXTRACTION_LEASE_SECONDS and queued again, up to
  EXTRACTION_MAX_ATTEMPTS, then failed with a reason;
- a queued job whose message is gone from the backend is sent again after
  EXTRACTION_RESEND_AFTER_SECONDS;
- a second message for the same job is harmless: only the first to claim the row runs it.

Every worker runs the sweep (`recover_jobs`) every EXTRACTION_SWEEP_SECONDS, even when idle
(`extraction.worker`). The uploaded file is never touched.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType

from django.conf import settings
from django.db import connection, transaction
from django.tasks import task
from django.utils import timezone

from a2v2 import metrics
from extraction import pipeline
from extraction.models import Document
from extraction.queue import waiting_task_ids

logger = logging.getLogger(__name__)

# Sent again per sweep at most: a huge backlog is worked through over several sweeps.
RESCUE_BATCH = 500


def limits() -> pipeline.Limits:
    return pipeline.Limits.from_mapping(settings.EXTRACTION_LIMITS)


def enqueue(document: Document) -> None:
    """Queue the job once the row that describes it is committed."""
    transaction.on_commit(lambda: send(document))


def send(document: Document) -> bool:
    """Hand the job's message to the task backend. A backend that cannot take it (Redis
    down) does not fail the upload: the committed row is the job, and the sweep sends
    the message again once the backend is back."""
    try:
        result = run_extraction.enqueue(document.pk)
    except Exception as error:
        logger.warning(
            "Could not queue document %s (%s: %s); the job sweep will send it again.",
            document.public_id,
            type(error).__name__,
            error,
        )
        return False
    document.mark_sent(str(result.id))
    return True


def new_owner() -> str:
    """Names the worker process holding a lease (host, pid, and a token per job)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


@task(queue_name="extraction")
def run_extraction(document_pk: int) -> str:
    recover_stale_jobs()
    document = Document.objects.filter(pk=document_pk).first()
    owner = new_owner()
    if document is None or not document.claim(owner):
        return "skipped"
    started = time.monotonic()
    with LeaseHeartbeat(document, owner):
        outcome = _extract(document, owner)
    metrics.observe_job(outcome, time.monotonic() - started)
    return outcome


def _extract(document: Document, owner: str) -> str:
    try:
        with document.file.open("rb") as handle:
            data = handle.read()
        # In a child process the time limit is hard (a native OCR or pdfium call cannot be
        # interrupted otherwise) and a crash in native code cannot take the worker down.
        extract = pipeline.extract_isolated if settings.EXTRACTION_ISOLATE else pipeline.extract
        result = extract(
            data,
            document.original_name,
            doc_type=document.requested_type or None,
            schema=document.schema or None,
            limits=limits(),
        )
    except pipeline.ExtractionError as error:
        return "failed" if document.fail(error.code, str(error), owner) else _superseded(document)
    except Exception as error:  # one bad document must never stop the worker
        logger.exception("Extraction crashed on document %s", document.public_id)
        reason = f"The extraction failed unexpectedly ({type(error).__name__})."
        return "failed" if document.fail("internal_error", reason, owner) else _superseded(document)
    return "succeeded" if document.succeed(result.to_dict(), owner) else _superseded(document)


def _superseded(document: Document) -> str:
    logger.warning(
        "Document %s: this worker lost its lease (another worker took the job over); "
        "its result is discarded.",
        document.public_id,
    )
    return "superseded"


class LeaseHeartbeat:
    """Renews the job's lease every EXTRACTION_HEARTBEAT_SECONDS while the job runs, so the
    lease can be short and a dead worker's job is picked up within seconds.

    Never past the job's time limit plus a minute: a job hung where its deadline cannot
    reach it (in-process, EXTRACTION_ISOLATE=false) then loses its lease like a dead one."""

    def __init__(self, document: Document, owner: str) -> None:
        self.document = document
        self.owner = owner
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
        self.renew_until = time.monotonic() + settings.EXTRACTION_LIMITS["timeout_seconds"] + 60

    def __enter__(self) -> LeaseHeartbeat:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopped.set()
        self.thread.join(timeout=settings.EXTRACTION_HEARTBEAT_SECONDS + 5)

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(settings.EXTRACTION_HEARTBEAT_SECONDS):
                if time.monotonic() > self.renew_until:
                    logger.warning(
                        "Document %s: still running past its time limit; its lease is no "
                        "longer renewed.",
                        self.document.public_id,
                    )
                    return
                try:
                    if not self.document.renew_lease(self.owner):
                        return  # finished, or taken over: _extract finds out when it finishes
                except Exception as error:  # the database is away: try again next beat
                    logger.warning(
                        "Could not renew the lease of document %s (%s: %s)",
                        self.document.public_id,
                        type(error).__name__,
                        error,
                    )
        finally:
            connection.close()  # this thread's own connection


@dataclass(frozen=True)
class Recovery:
    requeued: int = 0  # processing past their lease: their worker died
    failed: int = 0  # ... too many times
    resent: int = 0  # queued, but their message was gone

    @property
    def total(self) -> int:
        return self.requeued + self.failed + self.resent


def recover_jobs() -> Recovery:
    """The sweep every worker runs: jobs whose worker died, then jobs whose message was lost."""
    requeued, failed = _recover_stale()
    return Recovery(requeued=requeued, failed=failed, resent=resend_lost_messages())


def recover_stale_jobs() -> int:
    """Jobs whose worker died: queue them again, or fail them after too many attempts."""
    return sum(_recover_stale())


def _recover_stale() -> tuple[int, int]:
    requeued = failed = 0
    for document in Document.objects.stale():
        if document.attempts >= settings.EXTRACTION_MAX_ATTEMPTS:
            attempts = document.attempts
            reason = f"The worker stopped while processing this document ({attempts} attempts)."
            if document.fail("worker_lost", reason):
                failed += 1
        elif document.requeue(only_if_stale=True):
            logger.warning(
                "Document %s: its worker stopped answering (lease passed); queued again.",
                document.public_id,
            )
            enqueue(document)
            requeued += 1
    return requeued, failed


def resend_lost_messages() -> int:
    """Queued jobs whose message was sent more than EXTRACTION_RESEND_AFTER_SECONDS ago and
    that the task backend no longer holds: send them again."""
    cutoff = timezone.now() - timedelta(seconds=settings.EXTRACTION_RESEND_AFTER_SECONDS)
    candidates = list(Document.objects.unsent_since(cutoff)[:RESCUE_BATCH])
    if not candidates:
        return 0
    waiting = waiting_task_ids([d.task_id for d in candidates if d.task_id])
    resent = 0
    for document in candidates:
        if document.task_id in waiting or not document.take_resend_turn():
            continue
        logger.warning(
            "Document %s: queued for %.0f s and its message is no longer in the task queue; "
            "sent again.",
            document.public_id,
            document.waiting_seconds,
        )
        enqueue(document)
        resent += 1
    return resent
