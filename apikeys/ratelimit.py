"""Fixed-window counters shared by every process, atomic under concurrency.

With a Redis cache the counters are Redis INCRs; otherwise they are single upserts into
the database (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), which SQLite and PostgreSQL
both apply atomically. A cache's get-then-set `incr` is not atomic, so it is not used.

When the Redis cache cannot be reached, `incr` and `peek` raise `CountersUnavailable`;
what the caller does then is RATELIMIT_ON_CACHE_FAILURE ("closed": refuse with 503, the
default; "open": serve without counting). See docs/deploy.md, "When Redis is down".
"""

from __future__ import annotations

import functools
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache, caches
from django.core.signals import setting_changed
from django.db import connection
from redis.exceptions import RedisError

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


class CountersUnavailable(Exception):
    """The shared counters (Redis) could not be reached."""


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


def _uses_redis() -> bool:
    # `cache` is a proxy: ask the backend object itself what it is.
    return "redis" in type(caches["default"]).__module__.lower()


@functools.cache
def _redis_client(write: bool):  # type: ignore[no-untyped-def]
    # Django builds a new Redis client (and its ~170 response callbacks) on every call;
    # the client is thread-safe over its pool, so one per process is enough.
    return cache._cache.get_client(write=write)  # type: ignore[attr-defined]


def _redis_key(bucket: str) -> str:
    return cache.make_and_validate_key(f"rl:{bucket}")


def _redis_incr(buckets: list[tuple[str, int]]) -> list[int]:
    pipe = _redis_client(write=True).pipeline(transaction=False)
    for bucket, ttl in buckets:
        key = _redis_key(bucket)
        pipe.incr(key)
        pipe.expire(key, ttl, nx=True)
    return [int(count) for count in pipe.execute()[::2]]


def _redis_peek(buckets: list[str]) -> list[int]:
    values = _redis_client(write=False).mget([_redis_key(b) for b in buckets])
    return [int(value or 0) for value in values]


def _db_incr(buckets: list[tuple[str, int]]) -> list[int]:
    """All windows in one statement: one write transaction per request, not one per window."""
    table = RateCounter._meta.db_table
    now = time.time()
    rows = ", ".join(["(%s, 1, %s)"] * len(buckets))
    params: list[object] = []
    for bucket, ttl in buckets:
        params += [bucket, datetime.fromtimestamp(now + ttl, tz=UTC)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (bucket, count, expires_at) VALUES {rows} "
            f"ON CONFLICT (bucket) DO UPDATE SET count = {table}.count + 1 "
            f"RETURNING bucket, count",
            params,
        )
        counts = dict(cursor.fetchall())
    if 1 in counts.values() and random.random() < 0.02:
        # A new window began somewhere: now and then sweep windows that have ended.
        RateCounter.objects.filter(expires_at__lt=datetime.now(tz=UTC)).delete()
    return [int(counts[bucket]) for bucket, _ in buckets]


def _db_peek(buckets: list[str]) -> list[int]:
    live = RateCounter.objects.filter(bucket__in=buckets, expires_at__gt=datetime.now(tz=UTC))
    counts = dict(live.values_list("bucket", "count"))
    return [counts.get(bucket, 0) for bucket in buckets]


def incr(buckets: list[tuple[str, int]]) -> list[int]:
    """Add one to each (bucket, ttl) and return the new counts, in one round trip."""
    if not _uses_redis():
        return _db_incr(buckets)
    try:
        return _redis_incr(buckets)
    except RedisError as error:
        raise CountersUnavailable(str(error)) from error


def peek(buckets: list[str]) -> list[int]:
    if not _uses_redis():
        return _db_peek(buckets)
    try:
        return _redis_peek(buckets)
    except RedisError as error:
        raise CountersUnavailable(str(error)) from error


def hit(subject: str, windows: list[Window]) -> Decision:
    """Count one request against every window; allowed only if all are within limits."""
    now = time.time()
    counts = incr([(w.bucket(subject, now), w.seconds) for w in windows])
    exceeded = [w for w, count in zip(windows, counts, strict=True) if count > w.limit]
    tightest = min(zip(windows, counts, strict=True), key=lambda wc: wc[0].limit - wc[1])
    return Decision(
        allowed=not exceeded,
        limit=tightest[0].limit,
        remaining=max(0, tightest[0].limit - tightest[1]),
        reset=tightest[0].resets_in(now),
        retry_after=max((w.resets_in(now) for w in exceeded), default=0),
    )


def first_exhausted(subjects: list[tuple[str, Window]]) -> Window | None:
    """The first window its subject has already used up (without counting this call)."""
    now = time.time()
    counts = peek([window.bucket(subject, now) for subject, window in subjects])
    for (_, window), used in zip(subjects, counts, strict=True):
        if used >= window.limit:
            return window
    return None


def count(subjects: list[tuple[str, Window]]) -> None:
    now = time.time()
    incr([(window.bucket(subject, now), window.seconds) for subject, window in subjects])


def _forget_redis_client(*, setting: str, **kwargs: object) -> None:
    if setting == "CACHES":
        _redis_client.cache_clear()


setting_changed.connect(_forget_redis_client)
