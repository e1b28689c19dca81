"""Jobs survive their worker: a stale lease is queued again, then failed with a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings
from django.utils import timezone

from accounts.models import Agent
from extraction.models import Document, Status
from extraction.tasks import recover_stale_jobs, run_extraction

pytestmark = pytest.mark.django_db


def make_document(agent: Agent, data: bytes = b"Invoice number: INV-1\nTotal: 10.00\n") -> Document:
    document = Document(
        agent=agent,
        original_name="a.txt",
        size=len(data),
        sha256=Document.digest(data),
        media_type="text/plain",
        created_by="test",
    )
    document.file.save("upload", ContentFile(data), save=False)
    document.save()
    return document


def die_mid_job(document: Document) -> None:
    """What a killed worker leaves behind: processing, lease passed."""
    assert document.claim("test-worker")
    Document.objects.filter(pk=document.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_job_whose_worker_died_runs_again(
    agent_a: Agent, django_capture_on_commit_callbacks
) -> None:
    document = make_document(agent_a)
    die_mid_job(document)

    with django_capture_on_commit_callbacks(execute=True):
        assert recover_stale_jobs() == 1

    document.refresh_from_db()
    assert document.status == Status.SUCCEEDED
    assert document.attempts == 2
    assert document.file.storage.exists(document.file.name)


@override_settings(EXTRACTION_MAX_ATTEMPTS=1)
def test_a_job_that_keeps_killing_workers_is_failed_with_a_reason(agent_a: Agent) -> None:
    document = make_document(agent_a)
    die_mid_job(document)

    recover_stale_jobs()

    document.refresh_from_db()
    assert document.status == Status.FAILED
    assert document.failure_code == "worker_lost"
    assert "worker stopped" in document.failure_reason
    assert document.file.storage.exists(document.file.name)


def test_a_finished_job_is_not_run_twice(agent_a: Agent) -> None:
    document = make_document(agent_a)
    assert run_extraction.call(document.pk) == "succeeded"
    assert run_extraction.call(document.pk) == "skipped"
    document.refresh_from_db()
    assert document.attempts == 1


def test_a_crash_inside_the_pipeline_fails_only_that_document(agent_a: Agent, monkeypatch) -> None:
    document = make_document(agent_a)

    def explode(*args: object, **kwargs: object) -> None:
        raise MemoryError("simulated")

    monkeypatch.setattr("extraction.tasks.pipeline.extract", explode)
    assert run_extraction.call(document.pk) == "failed"
    document.refresh_from_db()
    assert document.status == Status.FAILED and "MemoryError" in document.failure_reason


def test_polling_a_job_whose_worker_died_puts_it_back(
    client, agent_a: Agent, django_capture_on_commit_callbacks
) -> None:
    from tests.factories import make_key

    document = make_document(agent_a)
    die_mid_job(document)
    _, key = make_key(agent_a, "documents_read")
    url = f"/v1/open/document-extraction/{document.public_id}/chatbots/{agent_a.public_id}"
    with django_capture_on_commit_callbacks(execute=True):
        client.get(url, headers={"x-api-key": key})
    body = client.get(url, headers={"x-api-key": key}).json()["data"]
    assert body["status"] == "succeeded" and body["attempts"] == 2


@override_settings(EXTRACTION_ISOLATE=True)
def test_a_job_runs_in_a_child_process_with_a_hard_time_limit(agent_a: Agent) -> None:
    document = make_document(agent_a)
    assert run_extraction.call(document.pk) == "succeeded"
    document.refresh_from_db()
    assert "INV-1" in document.result["pages"][0]["text"]


@override_settings(
    EXTRACTION_ISOLATE=True,
    EXTRACTION_LIMITS={
        "max_bytes": 10**7,
        "max_pages": 5,
        "max_pixels": 10**7,
        "timeout_seconds": 0.01,
    },
)
def test_a_job_over_its_time_limit_fails_with_a_reason(agent_a: Agent, monkeypatch) -> None:
    from extraction.pipeline import extract_isolated, isolate

    document = make_document(agent_a)
    isolate.shutdown()  # a warm extraction process could finish within the limit

    def no_grace(*args, **kwargs):  # type: ignore[no-untyped-def]
        # A child cannot even start within 10 ms: the limit, not the document, decides.
        return extract_isolated(*args, grace_seconds=0, **kwargs)

    monkeypatch.setattr("extraction.tasks.pipeline.extract_isolated", no_grace)
    assert run_extraction.call(document.pk) == "failed"
    document.refresh_from_db()
    assert document.failure_code == "timeout"
    assert "time limit" in document.failure_reason
