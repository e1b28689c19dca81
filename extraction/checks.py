"""System checks for the extraction jobs and their queue (`manage.py check`). The ids keep
the project's prefix (a2v2.E007 …): operators' runbooks and the docs name them."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=False)
def check_job_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    problems: list[Error] = []
    if settings.EXTRACTION_HEARTBEAT_SECONDS * 2 > settings.EXTRACTION_LEASE_SECONDS:
        problems.append(
            Error(
                f"EXTRACTION_HEARTBEAT_SECONDS ({settings.EXTRACTION_HEARTBEAT_SECONDS:g}) is "
                f"more than half of EXTRACTION_LEASE_SECONDS ({settings.EXTRACTION_LEASE_SECONDS})"
                ": one late heartbeat would hand a running job to another worker.",
                hint="Renew at most every third of the lease (defaults: 5 s and 20 s).",
                id="a2v2.E007",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def check_task_redis(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """The Redis that holds queued jobs must keep them: its own database (a cache clear is
    a FLUSHDB), persistence, and no eviction."""
    options = settings.TASKS["default"].get("OPTIONS", {})
    tasks_url = options.get("REDIS_URL")
    if not tasks_url or "redis" not in settings.TASKS["default"]["BACKEND"].lower():
        return []
    problems: list[Warning] = []
    cache_location = str(settings.CACHES["default"].get("LOCATION", ""))
    if _same_redis_database(tasks_url, cache_location):
        problems.append(
            Warning(
                "The task queue and the cache share one Redis database.",
                hint="Give TASKS_REDIS_URL its own database (…:6379/1) or server: clearing "
                "the cache would drop every queued job's message.",
                id="a2v2.W003",
            )
        )
    problems += _task_redis_config(tasks_url)
    return problems


def _same_redis_database(first: str, second: str) -> bool:
    def place(url: str) -> tuple[str, int, str]:
        parts = urlsplit(url)
        database = parts.path.strip("/") or "0"
        return (parts.hostname or "", parts.port or 6379, database)

    return bool(second) and second.startswith("redis") and place(first) == place(second)


def _task_redis_config(url: str) -> list[Warning]:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, decode_responses=True)
        config = client.config_get("maxmemory-policy") | client.config_get("appendonly")
        config |= client.config_get("save")
    except redis.RedisError:
        return []  # unreachable or CONFIG disabled (managed Redis): nothing to tell
    problems: list[Warning] = []
    if config.get("maxmemory-policy", "noeviction") != "noeviction":
        problems.append(
            Warning(
                f"The task queue's Redis evicts keys (maxmemory-policy "
                f"{config['maxmemory-policy']}): queued jobs can be dropped under memory "
                "pressure.",
                hint="Run it with maxmemory-policy noeviction (docs/deploy.md, Task workers).",
                id="a2v2.W004",
            )
        )
    if config.get("appendonly") != "yes" and not config.get("save"):
        problems.append(
            Warning(
                "The task queue's Redis keeps nothing on disk (no AOF, no RDB snapshots): a "
                "restart drops every queued job's message.",
                hint="Run it with appendonly yes (docs/deploy.md, Task workers). Lost "
                "messages are sent again by the workers' sweep, but only after "
                "EXTRACTION_RESEND_AFTER_SECONDS.",
                id="a2v2.W005",
            )
        )
    return problems


@register()
def check_pipeline_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """How the pipeline reads (extraction/pipeline/config.py), from EXTRACTION_* settings."""
    import phonenumbers

    from extraction.pipeline.config import DATE_ORDERS, OCR_ENGINES
    from extraction.pipeline.receipts import MODEL_FILES

    problems: list[Error | Warning] = []

    def refuse(message: str, hint: str, code: str) -> None:
        problems.append(Error(message, hint=hint, id=f"extraction.{code}"))

    if settings.EXTRACTION_OCR_ENGINE not in OCR_ENGINES:
        refuse(
            f"EXTRACTION_OCR_ENGINE is {settings.EXTRACTION_OCR_ENGINE!r}.",
            f"Use one of {', '.join(OCR_ENGINES)}.",
            "E001",
        )
    counts = ("EXTRACTION_OCR_THREADS", "EXTRACTION_OCR_MAX_SIDE", "EXTRACTION_OCR_DETECT_SIDE")
    negative = [name for name in counts if getattr(settings, name) < 0]
    if negative:
        refuse(
            f"{', '.join(negative)} cannot be negative.",
            "0 leaves each to the OCR engine.",
            "E002",
        )
    if settings.EXTRACTION_DATE_ORDER not in DATE_ORDERS:
        refuse(
            f"EXTRACTION_DATE_ORDER is {settings.EXTRACTION_DATE_ORDER!r}.",
            f"Use one of {', '.join(DATE_ORDERS)}.",
            "E003",
        )
    unknown = sorted(set(settings.EXTRACTION_PHONE_REGIONS) - phonenumbers.SUPPORTED_REGIONS)
    if unknown or not settings.EXTRACTION_PHONE_REGIONS:
        refuse(
            f"EXTRACTION_PHONE_REGIONS: unknown region {', '.join(unknown) or '(none)'}.",
            "Use ISO 3166 country codes such as US, GB, MY, comma-separated.",
            "E004",
        )
    folder = settings.EXTRACTION_MODEL_DIR
    if folder and not all((Path(folder) / name).is_file() for name in MODEL_FILES):
        problems.append(
            Warning(
                f"EXTRACTION_MODEL_DIR ({folder}) holds no fitted receipt model, so the "
                "shipped one is used.",
                hint="Run `manage.py extraction_train` to fit one there, or unset it.",
                id="extraction.W001",
            )
        )
    return problems
