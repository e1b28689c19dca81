"""What the task backend still holds: which of our messages are waiting to be run.

The document row is the job's source of truth; a message is only a reminder that the job
should run. A queued row whose message is gone (a Redis restarted without persistence, a
failover, FLUSHDB, a deleted database task row) is sent again by the sweep in
`extraction.tasks`. Asking the backend first keeps a long backlog from being sent twice;
when a backend cannot be asked, every old queued row is sent again, which is harmless:
`Document.claim()` lets only the first message for a row run it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from django.tasks import task_backends
from django.tasks.base import TaskResultStatus

logger = logging.getLogger(__name__)

QUEUE_NAME = "extraction"
STREAM_PAGE = 1000


def waiting_task_ids(task_ids: Collection[str]) -> set[str]:
    """The ids among `task_ids` whose message is queued and not yet started.

    A message that started but whose row is still queued does not count: its worker died
    between taking the message and claiming the row, and nothing would run it again."""
    if not task_ids:
        return set()
    backend = task_backends["default"]
    kind = type(backend).__name__
    if kind == "DatabaseBackend":
        return _database_waiting(task_ids)
    if kind == "RedisTaskBackend":
        return _redis_waiting(backend, task_ids)
    return set()


def _database_waiting(task_ids: Collection[str]) -> set[str]:
    from django_tasks_db.models import DBTaskResult

    waiting = DBTaskResult.objects.filter(id__in=list(task_ids), status=TaskResultStatus.READY)
    return {str(task_id) for task_id in waiting.values_list("id", flat=True)}


def _redis_waiting(backend: object, task_ids: Collection[str]) -> set[str]:
    """Entries still in the queue's streams (acknowledged ones are deleted) whose task
    hash still says READY. One pass over the streams, whose length is the queue depth."""
    client = backend.get_client()  # type: ignore[attr-defined]
    broker = backend.broker  # type: ignore[attr-defined]
    wanted = set(task_ids)
    in_streams: set[str] = set()
    for stream in broker.stream_keys(QUEUE_NAME):
        start = "-"
        while True:
            entries = client.xrange(stream, min=start, max="+", count=STREAM_PAGE)
            in_streams |= {fields.get("task_id", "") for _, fields in entries} & wanted
            if len(entries) < STREAM_PAGE:
                break
            start = "(" + entries[-1][0]
    present = sorted(in_streams)
    if not present:
        return set()
    pipeline = client.pipeline()
    for task_id in present:
        pipeline.hget(broker.result_key(task_id), "status")
    statuses = pipeline.execute()
    return {
        task_id
        for task_id, status in zip(present, statuses, strict=True)
        if status == TaskResultStatus.READY
    }
