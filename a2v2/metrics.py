"""Prometheus metrics at `/metrics` (METRICS_ENABLED, read by monitors only: see
`a2v2.monitoring`).

Counted as they happen: responses by area, method and status; request durations; Open API
calls refused by the key checks, by reason; rate-limit hits; extraction job durations by
outcome. Read at scrape time from the database: jobs queued and processing, the oldest
queued job's age, jobs whose lease passed, workers seen recently, and whether the database
and the cache answer.

gunicorn runs several processes, each with its own counters. With PROMETHEUS_MULTIPROC_DIR
set (the same directory for the web and the worker processes of one host, created before
they start), every process writes its counters there and any process's `/metrics` adds
them all up (prometheus_client's multiprocess mode). docs/deploy.md, "Monitoring".
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from a2v2.health import check_dependencies
from a2v2.monitoring import is_monitor
from extraction.models import Document, Worker

REQUESTS = Counter(
    "a2v2_http_requests_total",
    "HTTP responses, by area (open_api, ui, static, monitoring), method and status.",
    ["area", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "a2v2_http_request_duration_seconds",
    "Time to answer an HTTP request, by area.",
    ["area"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
KEY_REFUSALS = Counter(
    "a2v2_apikey_refusals_total",
    "Open API calls refused by the key checks, by reason.",
    ["reason"],
)
RATE_LIMIT_HITS = Counter(
    "a2v2_rate_limit_hits_total", "Open API calls refused by a key's per-minute or hourly limit."
)
JOB_SECONDS = Histogram(
    "a2v2_extraction_job_duration_seconds",
    "Wall time of an extraction job in its worker, by outcome.",
    ["outcome"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)

# Refusal messages of apikeys.verification that share a status with another reason.
REFUSAL_REASONS_BY_STATUS = {
    400: "key_in_url",
    401: "invalid_key",
    403: "ip_not_allowed",
    429: "too_many_failures",
    503: "unavailable",
}


def enabled() -> bool:
    return bool(settings.METRICS_ENABLED)


def observe_job(outcome: str, seconds: float) -> None:
    if enabled():
        JOB_SECONDS.labels(outcome).observe(seconds)


def area_of(request: HttpRequest) -> str:
    path = request.path_info
    if path == "/v1/open" or path.startswith("/v1/open/"):
        return "open_api"
    if path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    if path == "/metrics":
        return "monitoring"
    return "ui"


def refusal_reason(refusal: object) -> str:
    """A bounded label for a refusal of the key middleware (never its free-text message)."""
    explicit = getattr(refusal, "reason", None) or getattr(refusal, "code", None)
    if isinstance(explicit, str) and explicit.isidentifier():
        return explicit
    status = int(getattr(refusal, "status", 0))
    message = str(getattr(refusal, "message", "")).lower()
    if status == 401 and message.startswith("missing"):
        return "missing_key"
    if status == 401 and "expired" in message:
        return "expired_key"
    return REFUSAL_REASONS_BY_STATUS.get(status, f"status_{status}")


class MetricsMiddleware:
    """Outermost, so it sees the status every other layer settled on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        area = area_of(request)
        REQUESTS.labels(area, request.method or "", str(response.status_code)).inc()
        REQUEST_SECONDS.labels(area).observe(time.perf_counter() - started)
        if area == "open_api":
            self.count_refusal(request, response)
        return response

    @staticmethod
    def count_refusal(request: HttpRequest, response: HttpResponse) -> None:
        refusal = getattr(request, "key_refusal", None)
        decision = getattr(request, "rate_limit", None)
        if refusal is not None:
            KEY_REFUSALS.labels(refusal_reason(refusal)).inc()
        elif decision is not None and not decision.allowed:
            RATE_LIMIT_HITS.inc()
        elif response.status_code == 403 and getattr(request, "api_key", None) is not None:
            KEY_REFUSALS.labels("missing_permission").inc()


class QueueCollector(Collector):
    """The task queue and the dependencies, read from the database at each scrape."""

    def collect(self) -> Iterator[Metric]:
        dependencies = check_dependencies()
        up = GaugeMetricFamily(
            "a2v2_dependency_up", "1 when the dependency answers.", labels=["dependency"]
        )
        for name, reachable in dependencies.as_bools().items():
            up.add_metric([name], 1.0 if reachable else 0.0)
        yield up
        if not dependencies.database:
            return
        queue = Document.objects.queue_summary()
        jobs = GaugeMetricFamily(
            "a2v2_extraction_jobs", "Extraction jobs by open status.", labels=["status"]
        )
        jobs.add_metric(["queued"], queue["queued"])
        jobs.add_metric(["processing"], queue["processing"])
        yield jobs
        yield GaugeMetricFamily(
            "a2v2_extraction_oldest_queued_seconds",
            "How long the oldest queued job has waited (0 when none).",
            value=queue["oldestQueuedSeconds"],
        )
        yield GaugeMetricFamily(
            "a2v2_extraction_stale_jobs",
            "Jobs processing past their lease (their worker stopped answering).",
            value=queue["stale"],
        )
        yield GaugeMetricFamily(
            "a2v2_task_workers_seen",
            "Task workers whose heartbeat arrived within WORKER_SEEN_SECONDS.",
            value=Worker.objects.seen_within(settings.WORKER_SEEN_SECONDS).count(),
        )


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition() -> bytes:
    scrape = CollectorRegistry()
    scrape.register(QueueCollector())
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(scrape)
        return generate_latest(scrape)
    return generate_latest(REGISTRY) + generate_latest(scrape)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not enabled():
        raise Http404
    if not is_monitor(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
