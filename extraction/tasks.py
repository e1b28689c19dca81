"""Background extraction jobs, through Django's Tasks framework.

The database queue (django-tasks-db) is the default; a Redis-backed backend replaces it in
scale-out (TASKS_BACKEND). The Document row, not the queue, is the source of truth: a job
is claimed with a lease, and a job whose worker died (lease passed) is queued again, up to
EXTRACTION_MAX_ATTEMPTS, then failed with a reason. The uploaded file is never touched.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.tasks import task

from extraction import pipeline
from extraction.models import Document

logger = logging.getLogger(__name__)


def limits() -> pipeline.Limits:
    return pipeline.Limits.from_mapping(settings.EXTRACTION_LIMITS)


def enqueue(document: Document) -> None:
    """Queue the job once the row that describes it is committed."""
    transaction.on_commit(lambda: run_extraction.enqueue(document.pk))


@task(queue_name="extraction")
def run_extraction(document_pk: int) -> str:
    recover_stale_jobs()
    document = Document.objects.filter(pk=document_pk).first()
    if document is None or not document.claim():
        return "skipped"
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
        document.fail(error.code, str(error))
        return "failed"
    except Exception as error:  # one bad document must never stop the worker
        logger.exception("Extraction crashed on document %s", document.public_id)
        document.fail(
            "internal_error", f"The extraction failed unexpectedly ({type(error).__name__})."
        )
        return "failed"
    document.succeed(result.to_dict())
    return "succeeded"


def recover_stale_jobs() -> int:
    """Jobs whose worker died: queue them again, or fail them after too many attempts."""
    recovered = 0
    for document in Document.objects.stale():
        if document.attempts >= settings.EXTRACTION_MAX_ATTEMPTS:
            attempts = document.attempts
            reason = f"The worker stopped while processing this document ({attempts} attempts)."
            document.fail("worker_lost", reason)
        else:
            document.requeue()
            enqueue(document)
        recovered += 1
    return recovered
