"""The Redis task backend (django-tasks-redis): a job enqueued through it is run by a
`run_redis_tasks` worker against the local Redis, with the extraction queue."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.test import override_settings
from django_tasks_redis.management.commands.run_redis_tasks import Command as RunRedisTasks

from accounts.models import Agent
from extraction.models import Document, Status
from extraction.tasks import run_extraction
from tests.deploy.services import REDIS_URL, redis_reachable, require

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_tasks():  # type: ignore[no-untyped-def]
    require(redis_reachable(), f"Redis ({REDIS_URL})")
    prefix = f"a2v2_test_{uuid.uuid4().hex[:8]}"
    tasks = {
        "default": {
            "BACKEND": "django_tasks_redis.RedisTaskBackend",
            "QUEUES": ["default", "extraction"],
            "OPTIONS": {
                "REDIS_URL": REDIS_URL,
                "REDIS_KEY_PREFIX": prefix,
                "REDIS_BLOCK_TIMEOUT": 500,
            },
        }
    }
    with override_settings(TASKS=tasks):
        from django.tasks import task_backends

        yield task_backends["default"]
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def make_document(agent: Agent) -> Document:
    data = b"Invoice number: INV-7\nTotal: 42.00\n"
    document = Document(
        agent=agent,
        original_name="invoice.txt",
        size=len(data),
        sha256=Document.digest(data),
        media_type="text/plain",
        created_by="test",
    )
    document.file.save("upload", ContentFile(data), save=False)
    document.save()
    return document


def test_a_job_enqueued_through_redis_is_run_by_the_redis_worker(redis_tasks, agent_a) -> None:
    assert type(redis_tasks).__name__ == "RedisTaskBackend"
    document = make_document(agent_a)
    result = run_extraction.enqueue(document.pk)
    assert result.status == "READY"
    document.refresh_from_db()
    assert document.status == Status.QUEUED  # nothing ran it yet

    # A one-shot worker: drains what is queued, then exits (bounded by --max-tasks too).
    call_command(
        RunRedisTasks(), "--queue", "extraction", "--max-tasks", "5", "--no-graceful-shutdown"
    )

    document.refresh_from_db()
    assert document.status == Status.SUCCEEDED, (document.failure_code, document.failure_reason)
    assert document.file.storage.exists(document.file.name)
    finished = redis_tasks.get_result(result.id)
    assert finished.status == "SUCCESSFUL"
    assert finished.return_value == "succeeded"


def test_settings_select_the_redis_backend_by_name() -> None:
    import subprocess
    import sys

    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "apps = settings.INSTALLED_APPS; "
        "print(json.dumps([settings.TASKS['default'], 'django_tasks_redis' in apps]))"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "a2v2.settings",
        "TASKS_BACKEND": "redis",
        "CACHE_URL": "redis://127.0.0.1:6379/3",
        "SECRET_KEY": "x" * 60,
        "KEY_ENCRYPTION_KEYS": "k",
        "APIKEY_HASH_KEYS": "h" * 40,
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": "",
    }
    import json

    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    tasks, installed = json.loads(out.stdout)
    assert tasks["BACKEND"] == "django_tasks_redis.RedisTaskBackend"
    assert tasks["OPTIONS"]["REDIS_URL"] == "redis://127.0.0.1:6379/3"
    # Outlasts the job lease (20 s): a message is reclaimed only from a worker that is gone.
    assert tasks["OPTIONS"]["REDIS_CLAIM_TIMEOUT"] == 50
    assert installed


def run_our_redis_worker() -> None:
    """extraction's run_redis_tasks: the job sweep first, then what is queued."""
    from extraction.management.commands.run_redis_tasks import Command as OurRedisWorker

    call_command(
        OurRedisWorker(), "--queue", "extraction", "--max-tasks", "5", "--no-graceful-shutdown"
    )


def age(document: Document, seconds: float) -> None:
    from datetime import timedelta

    from django.utils import timezone

    Document.objects.filter(pk=document.pk).update(
        enqueued_at=timezone.now() - timedelta(seconds=seconds)
    )


@pytest.mark.parametrize("loss", ["xdel", "everything"])
def test_a_job_whose_redis_message_was_lost_still_finishes(redis_tasks, agent_a, loss) -> None:
    import redis

    from extraction.tasks import send

    document = make_document(agent_a)
    assert send(document)
    document.refresh_from_db()
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    streams = [s for s in redis_tasks.broker.stream_keys("extraction") if client.exists(s)]
    assert streams
    if loss == "xdel":  # the entry alone is gone, its task hash remains READY
        for stream in streams:
            for entry_id, _ in client.xrange(stream):
                client.xdel(stream, entry_id)
    else:  # Redis restarted without persistence: every key of the queue is gone (the
        # database may be shared with other test runs, so only ours are deleted)
        for stale_key in client.scan_iter(f"{redis_tasks.key_prefix}*"):
            client.delete(stale_key)
    age(document, 31)  # EXTRACTION_RESEND_AFTER_SECONDS is 30

    run_our_redis_worker()

    document.refresh_from_db()
    assert document.status == Status.SUCCEEDED, (document.failure_code, document.failure_reason)
    assert document.attempts == 1


def test_a_job_waiting_in_the_redis_stream_is_not_sent_twice(redis_tasks, agent_a) -> None:
    from extraction.tasks import resend_lost_messages, send

    document = make_document(agent_a)
    assert send(document)
    age(document, 600)  # a long backlog: old, but still in the stream
    assert resend_lost_messages() == 0


def test_a_webhook_delivery_and_its_deferred_retry_run_on_the_redis_worker(
    redis_tasks, agent_a, receiver
) -> None:
    import time

    from apikeys import webhooks
    from apikeys.models import WebhookDelivery, WebhookEndpoint, WebhookEventType

    _, secret = WebhookEndpoint.register(agent_a, url=receiver.url, events=["key.updated"])
    receiver.statuses = [503]
    with override_settings(WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=True, WEBHOOK_RETRY_BASE_SECONDS=1):
        webhooks.emit(WebhookEventType.KEY_UPDATED, agent_a, {"key": {"id": "k"}})
        worker = ("--queue", "default", "--max-tasks", "5", "--no-graceful-shutdown")
        call_command(RunRedisTasks(), *worker)
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.response_status) == ("pending", 1, 503)

        time.sleep(1.2)  # the retry's run_after passes
        call_command(RunRedisTasks(), *worker)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("succeeded", 2, 200)
    assert all(
        webhooks.signature_is_valid(secret, r.headers["A2V2-Signature"], r.body)
        for r in receiver.wait_for(2)
    )
