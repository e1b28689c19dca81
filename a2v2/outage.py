"""Logging a dependency outage (database, cache, task queue) without flooding the logs.

Each failure is one line (no traceback: the cause of "connection refused" is not in our
stack). The first failure says the dependency became unavailable; while it stays down, a
summary line every OUTAGE_SUMMARY_SECONDS counts the failures since; the first success
after says it is back and how long it was gone. State is per process.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import cache

from django.conf import settings

logger = logging.getLogger("a2v2.outage")


class Outage:
    def __init__(self, dependency: str) -> None:
        self.dependency = dependency
        self.lock = threading.Lock()
        self.down_since: float | None = None
        self.failures = 0
        self.summarized_at = 0.0
        self.failures_at_summary = 0

    def failed(self, error: BaseException | str, where: str = "") -> None:
        cause = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        cause = " ".join(cause.split())[:300]
        context = f" ({where})" if where else ""
        now = time.monotonic()
        with self.lock:
            self.failures += 1
            if self.down_since is None:
                self.down_since = self.summarized_at = now
                self.failures_at_summary = 0
                logger.error("%s unavailable%s: %s", self.dependency, context, cause)
                return
            logger.warning("%s still unavailable%s: %s", self.dependency, context, cause)
            if now - self.summarized_at >= settings.OUTAGE_SUMMARY_SECONDS:
                logger.error(
                    "%s has been unavailable for %.0f s: %d failures, %d since the last summary.",
                    self.dependency,
                    now - self.down_since,
                    self.failures,
                    self.failures - self.failures_at_summary,
                )
                self.summarized_at = now
                self.failures_at_summary = self.failures

    def succeeded(self) -> None:
        if self.down_since is None:  # the usual case, without taking the lock
            return
        with self.lock:
            if self.down_since is None:
                return
            logger.warning(
                "%s available again after %.1f s (%d failure%s).",
                self.dependency,
                time.monotonic() - self.down_since,
                self.failures,
                "" if self.failures == 1 else "s",
            )
            self.down_since = None
            self.failures = 0


@cache
def outage(dependency: str) -> Outage:
    return Outage(dependency)


class SkipUnavailableResponses(logging.Filter):
    """Django logs every 5xx response; a 503 is a dependency outage that `Outage` already
    reported, so the per-request "Service Unavailable: /path" line is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 503
