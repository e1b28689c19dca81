"""Fixed-window limits: which buckets a request counts in, and what the counts mean.

Pure functions over counts; `apikeys/counters.py` stores the counts (Redis, a SQLite file
or the database), and `apikeys/verification.py` asks it for them in one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

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


@dataclass(frozen=True)
class Decision:
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
    pairs = list(zip(windows, counts, strict=True))
    exceeded = [window for window, count in pairs if count > window.limit]
    tightest, used = min(pairs, key=lambda pair: pair[0].limit - pair[1])
    return Decision(
        allowed=not exceeded,
        limit=tightest.limit,
        remaining=max(0, tightest.limit - used),
        reset=tightest.resets_in(now),
        retry_after=max((window.resets_in(now) for window in exceeded), default=0),
    )
