"""Monitoring: health's operational details and /metrics are for monitors only; outages are
logged as one line per failure plus summaries; LOG_FORMAT=json writes JSON lines."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from a2v2.logs import JsonFormatter
from a2v2.outage import Outage
from a2v2.version import version
from accounts.models import Agent
from extraction.models import Document, Worker
from tests.extraction.test_jobs import make_document
from tests.factories import make_key

pytestmark = pytest.mark.django_db

HEALTH = "/v1/open/health"
MONITORED = {"MONITORING_ALLOWED_IPS": ["10.9.0.0/16"], "MONITORING_TOKEN": "t" * 40}
METRICS_ON = {
    **MONITORED,
    "METRICS_ENABLED": True,
    "MIDDLEWARE": ["a2v2.metrics.MetricsMiddleware", *settings.MIDDLEWARE],
}


@pytest.fixture
def busy_queue(agent_a: Agent) -> Document:
    document = make_document(agent_a)
    Document.objects.filter(pk=document.pk).update(queued_at=timezone.now() - timedelta(seconds=90))
    Worker.beat("host:1:abc", hostname="host", pid=1, backend="database")
    return document


@override_settings(**MONITORED)
def test_public_health_says_only_whether_dependencies_answer(client: Client, busy_queue) -> None:
    body = client.get(HEALTH, REMOTE_ADDR="203.0.113.9").json()
    assert body["data"] == {"database": "ok", "cache": "ok"}


@override_settings(**MONITORED)
def test_a_monitor_by_address_sees_the_queue_workers_and_version(
    client: Client, busy_queue
) -> None:
    data = client.get(HEALTH, REMOTE_ADDR="10.9.3.4").json()["data"]
    assert data["queue"]["queued"] == 1
    assert 89 <= data["queue"]["oldestQueuedSeconds"] < 200
    assert data["queue"]["processing"] == 0 and data["queue"]["stale"] == 0
    assert data["workers"]["seen"] == 1
    assert data["version"] == version()


@override_settings(**MONITORED)
def test_a_monitor_by_token_sees_details_and_a_wrong_token_does_not(
    client: Client, busy_queue
) -> None:
    good = client.get(HEALTH, headers={"Authorization": "Bearer " + "t" * 40})
    bad = client.get(HEALTH, headers={"Authorization": "Bearer " + "x" * 40})
    assert "queue" in good.json()["data"]
    assert "queue" not in bad.json()["data"]


def test_nothing_is_a_monitor_by_default(client: Client, busy_queue) -> None:
    data = client.get(HEALTH, REMOTE_ADDR="127.0.0.1").json()["data"]
    assert set(data) == {"database", "cache"}


def test_metrics_are_off_by_default(client: Client) -> None:
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


@override_settings(**METRICS_ON)
def test_metrics_are_refused_outside_the_allowlist(client: Client) -> None:
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert b"a2v2_" not in response.content


@override_settings(**METRICS_ON)
def test_metrics_count_statuses_refusals_rate_limits_and_the_queue(
    client: Client, agent_a: Agent, busy_queue
) -> None:
    _, key = make_key(agent_a, "contacts_read", rate_limit_per_minute=1)
    me = "/v1/open/keys/me"
    client.get(me, headers={"x-api-key": key})  # 200
    client.get(me, headers={"x-api-key": key})  # 429: over 1/minute
    client.get(me)  # 401: no key
    client.get(me, headers={"x-api-key": key[:-3] + "AAA"})  # 401: bad checksum
    docs = f"/v1/open/document-extraction/chatbots/{agent_a.public_id}"
    _, other = make_key(agent_a, "contacts_read", name="Other")
    client.get(docs, headers={"x-api-key": other})  # 403: no Documents permission

    text = client.get("/metrics", REMOTE_ADDR="10.9.0.1").content.decode()

    def value(sample: str) -> float:
        lines = [line for line in text.splitlines() if line.startswith(sample + " ")]
        assert lines, f"{sample} missing"
        return float(lines[0].split()[-1])

    assert value('a2v2_http_requests_total{area="open_api",method="GET",status="200"}') >= 1
    assert value('a2v2_http_requests_total{area="open_api",method="GET",status="429"}') >= 1
    assert value('a2v2_apikey_refusals_total{reason="missing_key"}') >= 1
    assert value('a2v2_apikey_refusals_total{reason="invalid_key"}') >= 1
    assert value('a2v2_apikey_refusals_total{reason="missing_permission"}') >= 1
    assert value("a2v2_rate_limit_hits_total") >= 1
    assert value('a2v2_extraction_jobs{status="queued"}') == 1
    assert value("a2v2_extraction_oldest_queued_seconds") >= 89
    assert value("a2v2_task_workers_seen") == 1
    assert value('a2v2_dependency_up{dependency="database"}') == 1
    assert "a2v2_extraction_job_duration_seconds" in text


@override_settings(OUTAGE_SUMMARY_SECONDS=0)
def test_an_outage_is_one_line_per_failure_plus_summaries(caplog, monkeypatch) -> None:
    outage = Outage("cache")
    caplog.set_level(logging.INFO, logger="a2v2.outage")
    for _ in range(3):
        try:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        except ConnectionError as error:
            outage.failed(error, "Open API")
    outage.succeeded()
    outage.succeeded()  # already back: nothing more to say

    records = caplog.records
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records)
    messages = [r.getMessage() for r in records]
    assert messages[0].startswith("cache unavailable (Open API): ConnectionError: Error 111")
    assert sum("still unavailable" in m for m in messages) == 2
    assert sum("has been unavailable for" in m for m in messages) == 2
    assert messages[-1].startswith("cache available again after") and "(3 failures)" in messages[-1]


def test_json_logs_are_one_object_per_line_with_extras_and_exceptions() -> None:
    logger = logging.getLogger("a2v2.test")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord(
            "a2v2.test", logging.ERROR, __file__, 1, "Job %s failed", ("d1",), None
        )
        import sys

        record.exc_info = sys.exc_info()
    record.worker_id = "w-1"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "Job d1 failed" and entry["level"] == "ERROR"
    assert entry["worker_id"] == "w-1"
    assert "ValueError: boom" in entry["exception"]


def test_showrelease_prints_the_release(capsys) -> None:
    from django.core.management import call_command

    call_command("showrelease", "--json")
    printed = json.loads(capsys.readouterr().out)
    assert printed["version"] == version() and printed["version"].count(".") == 2
