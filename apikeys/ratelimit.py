"""Fixed-window counters shared by every process, atomic under concurrency.

With a Redis cache the counters are Redis INCRs; otherwise they are single upserts into
the database (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), which SQLite and PostgreSQL
both apply atomically. A cache's get-then-set `incr` is not atomic, so it is not used.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import cache
from django.db import connection

from apikeys.models import RateCounter


@dataclass(frozen=True)
class Window:
    name: str  # "minute" or "hour"
    seconds: int
    limit: int

    def bucket(self, subject: str, now: float) -> str:
        return f"{subject}:{self.name}:{int(now // self.seconds)}"

    def resets_in(self, now: float) -> int:
        return max(1, int(self.seconds - (now % self.seconds)))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the tightest window resets
    retry_after: int  # seconds until the exceeded window resets (0 when allowed)

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def _uses_redis() -> bool:
    return "redis" in type(cache).__module__.lower()


def _redis_incr(bucket: str, ttl: int) -> int:
    key = cache.make_and_validate_key(f"rl:{bucket}")
    client = cache._cache.get_client(key, write=True)  # type: ignore[attr-defined]
    pipe = client.pipeline()
    pipe.incr(key)
    pipe.expire(key, ttl, nx=True)
    count, _ = pipe.execute()
    return int(count)


def _redis_peek(bucket: str) -> int:
    key = cache.make_and_validate_key(f"rl:{bucket}")
    value = cache._cache.get_client(key).get(key)  # type: ignore[attr-defined]
    return int(value or 0)


def _db_incr(bucket: str, ttl: int) -> int:
    table = RateCounter._meta.db_table
    expires = datetime.fromtimestamp(time.time() + ttl, tz=UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (bucket, count, expires_at) VALUES (%s, 1, %s) "
            f"ON CONFLICT (bucket) DO UPDATE SET count = {table}.count + 1 RETURNING count",
            [bucket, expires],
        )
        (count,) = cursor.fetchone()
    if count == 1 and random.random() < 0.02:
        # A new window began somewhere: now and then sweep windows that have ended.
        RateCounter.objects.filter(expires_at__lt=datetime.now(tz=UTC)).delete()
    return int(count)


def _db_peek(bucket: str) -> int:
    row = RateCounter.objects.filter(bucket=bucket, expires_at__gt=datetime.now(tz=UTC))
    return row.values_list("count", flat=True).first() or 0


def incr(bucket: str, ttl: int) -> int:
    return _redis_incr(bucket, ttl) if _uses_redis() else _db_incr(bucket, ttl)


def peek(bucket: str) -> int:
    return _redis_peek(bucket) if _uses_redis() else _db_peek(bucket)


def hit(subject: str, windows: list[Window]) -> Decision:
    """Count one request against every window; allowed only if all are within limits."""
    now = time.time()
    counts = [incr(w.bucket(subject, now), w.seconds) for w in windows]
    exceeded = [w for w, count in zip(windows, counts, strict=True) if count > w.limit]
    tightest = min(zip(windows, counts, strict=True), key=lambda wc: wc[0].limit - wc[1])
    return Decision(
        allowed=not exceeded,
        limit=tightest[0].limit,
        remaining=max(0, tightest[0].limit - tightest[1]),
        reset=tightest[0].resets_in(now),
        retry_after=max((w.resets_in(now) for w in exceeded), default=0),
    )


def over(subject: str, window: Window) -> bool:
    """True when `subject` has already used up `window` (without counting this call)."""
    return peek(window.bucket(subject, time.time())) >= window.limit


def count(subject: str, window: Window) -> None:
    incr(window.bucket(subject, time.time()), window.seconds)
