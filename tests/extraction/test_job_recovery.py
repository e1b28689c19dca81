"""No job is lost: the lease is kept alive while a job runs, a worker that lost its lease
cannot finish, a queued job whose message is gone is sent again, and a re-run unsticks a
queued job. The database task backend here; tests/deploy/test_redis_tasks.py does Redis."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import Agent
from extraction.models import Document, Status, Worker
from extraction.tasks import LeaseHeartbeat, recover_jobs, resend_lost_messages, send
from tests.extraction.test_jobs import make_document
from tests.factories import make_key

DATABASE_TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "extraction"],
    }
}


def age(document: Document, seconds: float) -> None:
    """As if its message had gone out `seconds` ago."""
    Document.objects.filter(pk=document.pk).update(
        enqueued_at=timezone.now() - timedelta(seconds=seconds)
    )
    document.refresh_from_db()


def run_database_worker() -> None:
    """Our db_worker, once through the queue: the sweep at start, then every ready task."""
    call_command(
        "db_worker", "--batch", "--queue-name", "*", "--no-startup-delay", "--no-reload",
        "--verbosity", "0",
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
@override_settings(EXTRACTION_HEARTBEAT_SECONDS=0.05, EXTRACTION_LEASE_SECONDS=1)
def test_the_heartbeat_keeps_a_running_job_leased(agent_a: Agent) -> None:
    document = make_document(agent_a)
    assert document.claim("worker-1")
    first_lease = document.lease_expires_at
    with LeaseHeartbeat(document, "worker-1"):
        time.sleep(1.5)  # longer than the lease itself
        document.refresh_from_db()
        assert document.lease_expires_at > first_lease
        assert not document.lease_expired
    assert Document.objects.stale().count() == 0


@pytest.mark.django_db
def test_a_worker_that_lost_its_lease_cannot_finish_the_job(agent_a: Agent) -> None:
    document = make_document(agent_a)
    assert document.claim("dead-worker")
    Document.objects.filter(pk=document.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert document.requeue(only_if_stale=True)
    assert document.claim("new-worker")

    assert not document.renew_lease("dead-worker")
    assert not document.succeed({"pages": []}, "dead-worker")
    document.refresh_from_db()
    assert document.status == Status.PROCESSING and document.lease_owner == "new-worker"
    assert document.succeed({"pages": []}, "new-worker")


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DATABASE_TASKS)
def test_a_deleted_database_task_row_is_sent_again_and_the_job_finishes(agent_a: Agent) -> None:
    document = make_document(agent_a)
    assert send(document)
    document.refresh_from_db()
    assert DBTaskResult.objects.filter(id=document.task_id).exists()

    DBTaskResult.objects.all().delete()  # the message is lost
    age(document, 31)  # EXTRACTION_RESEND_AFTER_SECONDS is 30
    run_database_worker()

    document.refresh_from_db()
    assert document.status == Status.SUCCEEDED, (document.failure_code, document.failure_reason)
    assert document.attempts == 1
    assert Worker.objects.count() == 0  # a worker that exits removes its heartbeat row


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DATABASE_TASKS)
def test_a_job_still_waiting_in_the_queue_is_not_sent_twice(agent_a: Agent) -> None:
    document = make_document(agent_a)
    assert send(document)
    age(document, 600)  # a long backlog: old, but its message is still there

    assert resend_lost_messages() == 0
    assert DBTaskResult.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DATABASE_TASKS)
def test_a_job_whose_worker_died_after_taking_its_message_is_sent_again(
    agent_a: Agent,
) -> None:
    document = make_document(agent_a)
    assert send(document)
    # The worker marked the task running, then died before claiming the row.
    DBTaskResult.objects.update(status="RUNNING")
    age(document, 31)

    run_database_worker()
    document.refresh_from_db()
    assert document.status == Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DATABASE_TASKS)
def test_two_sweeps_at_once_send_a_lost_job_once(agent_a: Agent) -> None:
    document = make_document(agent_a)
    age(document, 31)  # never sent at all
    stale_copy = Document.objects.get(pk=document.pk)

    assert resend_lost_messages() == 1
    # A second sweep that read the row before the first moved it loses the race.
    assert not stale_copy.take_resend_turn()
    assert DBTaskResult.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@override_settings(
    TASKS={
        "default": {
            "BACKEND": "django_tasks_redis.RedisTaskBackend",
            "QUEUES": ["default", "extraction"],
            "OPTIONS": {
                "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens there
                "REDIS_SOCKET_CONNECT_TIMEOUT": 0.5,
            },
        }
    },
)
def test_an_upload_while_the_queue_is_down_is_accepted_and_sent_later(
    client: Client, agent_a: Agent
) -> None:
    _, key = make_key(agent_a, "documents_create", rate_limit_per_minute=1000)
    response = client.post(
        f"/v1/open/document-extraction/chatbots/{agent_a.public_id}",
        {"file": SimpleUploadedFile("a.txt", b"Invoice number: INV-9\nTotal: 9.00\n")},
        headers={"x-api-key": key},
    )
    assert response.status_code == 202, response.json()
    document = Document.objects.get(public_id=response.json()["data"]["id"])
    assert document.status == Status.QUEUED and not document.task_id

    with override_settings(TASKS=DATABASE_TASKS):
        age(document, 31)
        assert recover_jobs().resent == 1
        run_database_worker()
    document.refresh_from_db()
    assert document.status == Status.SUCCEEDED


@pytest.mark.django_db
def test_rerun_of_a_document_queued_moments_ago_is_refused_with_retry_after(
    client: Client, agent_a: Agent
) -> None:
    document = make_document(agent_a)
    Document.objects.filter(pk=document.pk).update(enqueued_at=timezone.now())
    _, key = make_key(agent_a, "documents_update")
    url = f"/v1/open/document-extraction/{document.public_id}/chatbots/{agent_a.public_id}/rerun"

    response = client.post(url, headers={"x-api-key": key})
    assert response.status_code == 409
    assert response.json()["message"] == "The document is already queued."
    assert 1 <= int(response["Retry-After"]) <= 30


@pytest.mark.django_db
def test_rerun_unsticks_a_document_queued_too_long(
    client: Client, agent_a: Agent, django_capture_on_commit_callbacks
) -> None:
    document = make_document(agent_a)
    age(document, 120)
    _, key = make_key(agent_a, "documents_update")
    url = f"/v1/open/document-extraction/{document.public_id}/chatbots/{agent_a.public_id}/rerun"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, headers={"x-api-key": key})
    assert response.status_code == 202
    document.refresh_from_db()
    assert document.status == Status.SUCCEEDED and document.attempts == 1


@pytest.mark.django_db
def test_rerun_of_a_document_being_processed_is_refused(client: Client, agent_a: Agent) -> None:
    document = make_document(agent_a)
    assert document.claim("worker-1")
    _, key = make_key(agent_a, "documents_update")
    url = f"/v1/open/document-extraction/{document.public_id}/chatbots/{agent_a.public_id}/rerun"
    response = client.post(url, headers={"x-api-key": key})
    assert response.status_code == 409
    assert response.json()["message"] == "The document is being processed."


@pytest.mark.django_db
def test_recover_jobs_command_reports_what_it_did(agent_a: Agent, capsys) -> None:
    document = make_document(agent_a)
    assert document.claim("dead-worker")
    Document.objects.filter(pk=document.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with transaction.atomic():
        call_command("recover_jobs", "--json")
    assert '"requeued": 1' in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
@override_settings(EXTRACTION_HEARTBEAT_SECONDS=0.05, EXTRACTION_LEASE_SECONDS=1)
def test_a_job_hung_past_its_time_limit_stops_renewing_its_lease(agent_a: Agent) -> None:
    document = make_document(agent_a)
    assert document.claim("worker-1")
    heartbeat = LeaseHeartbeat(document, "worker-1")
    heartbeat.renew_until = time.monotonic() + 0.2  # as if the time limit had passed
    with heartbeat:
        time.sleep(1.6)
        assert Document.objects.stale().filter(pk=document.pk).exists()
