"""Rate-limit windows (pure) and the counters behind them (each store, under concurrency)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.core.cache import caches
from django.db import connection, connections
from django.test import override_settings
from redis.exceptions import ConnectionError as RedisConnectionError

from apikeys import counters, ratelimit

MINUTE, HOUR = ratelimit.key_windows(2, 5)


def test_a_bucket_names_its_subject_window_and_period() -> None:
    assert MINUTE.bucket("key:abc", now=125.0) == "key:abc:minute:2"
    assert HOUR.bucket("key:abc", now=125.0) == "key:abc:hour:0"
    assert MINUTE.resets_in(now=125.0) == 55
    assert MINUTE.resets_in(now=179.9) == 1  # never 0: Retry-After: 0 means "now"


def test_a_request_within_every_window_is_allowed_with_the_tightest_reported() -> None:
    decision = ratelimit.decide([MINUTE, HOUR], [1, 1], now=130.0)
    assert decision.allowed
    assert (decision.limit, decision.remaining, decision.reset) == (2, 1, 50)
    assert decision.headers() == {
        "X-RateLimit-Limit": "2",
        "X-RateLimit-Remaining": "1",
        "X-RateLimit-Reset": "50",
    }


def test_exceeding_any_window_refuses_with_the_time_until_it_resets() -> None:
    over_minute = ratelimit.decide([MINUTE, HOUR], [3, 3], now=130.0)
    assert not over_minute.allowed and over_minute.retry_after == 50
    assert over_minute.remaining == 0 and over_minute.headers()["Retry-After"] == "50"

    over_hour = ratelimit.decide([MINUTE, HOUR], [1, 6], now=130.0)
    assert not over_hour.allowed
    assert over_hour.limit == 5 and over_hour.retry_after == 3600 - 130


def test_an_uncounted_decision_claims_no_limits() -> None:
    assert ratelimit.Decision.uncounted().headers() == {}


# --- the stores -------------------------------------------------------------------------


def _hit_many(store: counters.Counters, times: int) -> list[int]:
    try:
        return [store.add([("race:bucket", 60, 1)])[0] for _ in range(times)]
    finally:
        connections.close_all()


def _assert_exact_under_threads(store: counters.Counters) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = [c for batch in pool.map(_hit_many, [store] * 8, [25] * 8) for c in batch]
    # Every increment was seen exactly once: no lost updates, no duplicates.
    assert sorted(counts) == list(range(1, 201))


def _count_in_a_process(path: str, times: int, results: multiprocessing.Queue) -> None:
    store = counters.SqliteFileCounters(Path(path))
    results.put([store.add([("race:bucket", 60, 1)])[0] for _ in range(times)])


def test_the_sqlite_file_is_created_on_first_use_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "var" / "ratelimit.sqlite3"
    store = counters.SqliteFileCounters(path)
    assert store.add([("a", 60, 1), ("b", 3600, 1)]) == [1, 1]
    assert path.exists()
    import sqlite3

    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_sqlite_file_counts_several_buckets_in_one_statement(tmp_path: Path) -> None:
    store = counters.SqliteFileCounters(tmp_path / "rl.sqlite3")
    assert store.add([("minute", 60, 1), ("hour", 3600, 1), ("failures", 60, 0)]) == [1, 1, 0]
    assert store.add([("minute", 60, 1), ("hour", 3600, 1), ("failures", 60, 0)]) == [2, 2, 0]
    assert store.add([("failures", 60, 1)]) == [1]
    assert store.add([("failures", 60, 0)]) == [1]  # reading does not count


def test_the_sqlite_file_counts_exactly_across_threads(tmp_path: Path) -> None:
    _assert_exact_under_threads(counters.SqliteFileCounters(tmp_path / "rl.sqlite3"))


def test_the_sqlite_file_counts_exactly_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "rl.sqlite3")
    context = multiprocessing.get_context("spawn")  # fork from a threaded pytest can deadlock
    results: multiprocessing.Queue = context.Queue()
    workers = [
        context.Process(target=_count_in_a_process, args=(path, 50, results)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    counts = [c for _ in workers for c in results.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=10)
    assert sorted(counts) == list(range(1, 201))


@pytest.fixture
def no_random_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new window sweeps ended ones 2% of the time (`_sweep_now_and_then`): off, so the
    prune asserted below finds what it should (it found nothing once in 50 runs)."""
    monkeypatch.setattr(counters.random, "random", lambda: 1.0)


@pytest.mark.usefixtures("no_random_sweep")
def test_ended_windows_are_pruned_from_the_sqlite_file(tmp_path: Path) -> None:
    store = counters.SqliteFileCounters(tmp_path / "rl.sqlite3")
    store.add([("ended", -1, 1), ("live", 60, 1)])
    assert store.prune(dry_run=True) == 1
    assert store.prune() == 1
    assert store.add([("live", 60, 0)]) == [1]


def test_sqlite_deployments_count_in_the_file_of_their_own(tmp_path: Path) -> None:
    if connection.vendor != "sqlite" or "redis" in caches["default"].__module__:
        pytest.skip("the embedded default only")
    with override_settings(RATELIMIT_SQLITE_PATH=str(tmp_path / "rl.sqlite3")):
        store = counters.store()
        assert isinstance(store, counters.SqliteFileCounters)
        assert store.path == tmp_path / "rl.sqlite3"


@pytest.mark.django_db(transaction=True)
def test_database_counters_are_exact_under_concurrency() -> None:
    if connection.vendor == "sqlite":
        pytest.skip("PostgreSQL without Redis; SQLite deployments use the file of their own")
    _assert_exact_under_threads(counters.DatabaseCounters())


@pytest.mark.django_db
@pytest.mark.usefixtures("no_random_sweep")
def test_database_counters_count_several_buckets_in_one_statement() -> None:
    store = counters.DatabaseCounters()
    assert store.add([("minute", 60, 1), ("hour", 3600, 1), ("failures", 60, 0)]) == [1, 1, 0]
    assert store.add([("minute", 60, 1), ("failures", 60, 1)]) == [2, 1]
    store.add([("ended", -1, 1)])
    assert store.prune(dry_run=True) == 1 and store.prune() == 1


def test_redis_counters_are_exact_under_concurrency() -> None:
    if "redis" not in caches["default"].__module__:
        pytest.skip("needs the Redis cache (the PostgreSQL + Redis pass)")
    store = counters.RedisCounters()
    store.clear()
    try:
        _assert_exact_under_threads(store)
        assert store.add([("race:bucket", 60, 0), ("fresh", 60, 0), ("fresh", 60, 1)]) == [
            200,
            0,
            1,
        ]
    finally:
        store.clear()


@pytest.fixture
def redis_store() -> counters.RedisCounters:
    if "redis" not in caches["default"].__module__:
        pytest.skip("needs the Redis cache (the PostgreSQL + Redis pass)")
    store = counters.RedisCounters()
    store.clear()
    yield store
    store.clear()


def test_a_redis_bucket_lives_as_long_as_its_window(redis_store: counters.RedisCounters) -> None:
    redis_store.add([("minute-bucket", 60, 1), ("hour-bucket", 3600, 1), ("read-only", 60, 0)])
    ttl = {name: redis_store.client.ttl(redis_store.cache.make_key(f"rl:{name}"))
           for name in ("minute-bucket", "hour-bucket", "read-only")}  # fmt: skip
    assert 55 <= ttl["minute-bucket"] <= 60 and 3590 <= ttl["hour-bucket"] <= 3600
    assert ttl["read-only"] == -2  # reading creates nothing


def test_redis_counters_survive_a_flushed_script_and_a_dropped_connection(
    redis_store: counters.RedisCounters,
) -> None:
    assert redis_store.add([("survivor", 60, 1)]) == [1]
    redis_store.client.script_flush()
    assert redis_store.add([("survivor", 60, 1)]) == [2]
    redis_store._line().connection.disconnect()  # as a Redis restart or a timeout would
    assert redis_store.add([("survivor", 60, 1)]) == [3]


def test_an_unreachable_redis_raises_counters_unavailable() -> None:
    from django.test import override_settings

    from tests.deploy.test_redis_down import DEAD_REDIS

    with override_settings(CACHES=DEAD_REDIS), pytest.raises(counters.CountersUnavailable):
        counters.store().add([("anything", 60, 1)])


def test_redis_replies_read_out_of_order_reach_their_own_commands(
    redis_store: counters.RedisCounters,
) -> None:
    """Admissions are sent ahead and read later (verification.start): a reply read for a
    later command first reads the earlier ones into theirs."""
    first = redis_store.start_add_if_current("first", "", [])
    generation = first.result()[0]
    earlier = redis_store.start_add_if_current("first", generation, [("one", 60, 1)])
    later = redis_store.start_add_if_current("first", generation, [("one", 60, 1), ("two", 60, 5)])
    assert later.result() == (generation, [2, 5])
    assert earlier.result() == (generation, [1])


def test_a_reply_lost_with_its_connection_is_counters_unavailable(
    redis_store: counters.RedisCounters,
) -> None:
    sent = redis_store.start_add_if_current("lost", "", [])
    redis_store._line().drop(RedisConnectionError("reset"))  # the socket failing before the reply
    with pytest.raises(counters.CountersUnavailable):
        sent.result()
    assert redis_store.add([("after", 60, 1)]) == [1]  # the next command reconnects
