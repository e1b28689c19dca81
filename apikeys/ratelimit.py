"""Fixed-window limits: which buckets a request counts in, and what the counts mean.

Pure functions over counts; `apikeys/counters.py` stores the counts (Redis, a SQLite file
or the database), and `apikeys/verification.py` asks it for them in one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings


@dataclass(frozen=True)
class Window:
    name: str  # "minute" or "hour"
    seconds: int
    limit: int

    def bucket(self, subject: str, now: float) -> str:
        return f"{subject}:{self.name}:{int(now // self.seconds)}"

    def resets_in(self, now: float) -> int:
        return max(1, int(self.seconds - (now % self.seconds)))


def fail_open() -> bool:
    return settings.RATELIMIT_ON_CACHE_FAILURE == "open"


class Decision(NamedTuple):
    """Immutable like a frozen dataclass, and built in a quarter of its time (one is built
    on every Open API call)."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the tightest window resets
    retry_after: int  # seconds until the exceeded window resets (0 when allowed)
    counted: bool = True  # False: served uncounted while the counters were unreachable

    @classmethod
    def uncounted(cls) -> Decision:
        return cls(allowed=True, limit=0, remaining=0, reset=0, retry_after=0, counted=False)

    def headers(self) -> dict[str, str]:
        if not self.counted:
            return {}
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


# Windows are immutable and keys share a few limits: built once, not on every request.
@lru_cache(maxsize=1024)
def key_windows(per_minute: int, per_hour: int) -> tuple[Window, Window]:
    return (Window("minute", 60, per_minute), Window("hour", 3600, per_hour))


def failure_window() -> Window:
    """Failed authentications allowed per client address per minute."""
    return _failure_window(settings.APIKEY_FAILURES_PER_CLIENT)


@lru_cache(maxsize=8)
def _failure_window(limit: int) -> Window:
    return Window("minute", 60, limit)


def decide(windows: Sequence[Window], counts: Sequence[int], now: float) -> Decision:
    """Counts include this request; it is allowed only if every window is within its limit.
    The headers describe the window closest to its limit."""
    # A plain loop: this runs on every Open API call.
    tightest, used, retry_after = windows[0], counts[0], 0
    for window, count in zip(windows, counts, strict=True):
        if count > window.limit:
            retry_after = max(retry_after, window.resets_in(now))
        if window.limit - count < tightest.limit - used:
            tightest, used = window, count
    return Decision(
        allowed=retry_after == 0,
        limit=tightest.limit,
        remaining=max(0, tightest.limit - used),
        reset=tightest.resets_in(now),
        retry_after=retry_after,
    )
