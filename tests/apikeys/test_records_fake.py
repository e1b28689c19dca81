"""Kept key rows (apikeys/records.py) on the SQLite pass: an in-memory stand-in for Redis's
counters and generations plays the shared store, so the default `bin/test` and bin/mutation
pin the kept-copy and generation logic without a Redis server. tests/apikeys/test_records.py
walks the same paths against a real Redis on the PostgreSQL + Redis pass."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.db import connection
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Agent
from apikeys import counters, records
from apikeys.models import ApiKey
from tests import factories

ME = "/v1/open/keys/me"

pytestmark = pytest.mark.django_db


class MemoryRedisCounters(counters.RedisCounters):
    """RedisCounters' contract held in a dict: counts, generations (created when missing,
    as the Lua script does) and an outage switch."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.generations: dict[str, str] = {}
        self.down = False
        self.trips: list[str] = []

    def _reachable(self, trip: str) -> None:
        self.trips.append(trip)
        if self.down:
            raise counters.CountersUnavailable("connection refused")

    def _count(self, entries: Sequence[counters.Entry]) -> list[int]:
        for bucket, _, amount in entries:
            self.counts[bucket] = self.counts.get(bucket, 0) + amount
        return [self.counts[bucket] for bucket, _, _ in entries]

    def add(self, entries: Sequence[counters.Entry]) -> list[int]:
        self._reachable("add")
        return self._count(entries)

    def add_if_current(
        self, key_id: str, generation: str, entries: Sequence[counters.Entry]
    ) -> tuple[str, list[int] | None]:
        self._reachable("add_if_current")
        current = self.generations.setdefault(key_id, secrets.token_hex(8))
        if current != generation:
            return current, None
        return current, self._count(entries)

    def mark_changed(self, key_ids: Sequence[str]) -> None:
        self._reachable("mark_changed")
        self.generations.update(dict.fromkeys(key_ids, counters.PENDING))

    def renew(self, key_ids: Sequence[str]) -> None:
        self._reachable("renew")
        self.generations.update({key_id: secrets.token_hex(8) for key_id in key_ids})

    def renew_all(self) -> None:
        self._reachable("renew_all")
        self.generations.clear()

    def clear(self) -> None:
        self.counts.clear()
        self.generations.clear()


@pytest.fixture
def redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryRedisCounters]:
    store = MemoryRedisCounters()
    monkeypatch.setattr(counters, "store", lambda: store)
    records.clear()
    yield store
    records.clear()


def commits() -> Any:
    """Runs, on leaving, the on-commit callbacks of what was done inside (the renewal):
    the test's transaction never commits."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def make_key(agent: Agent, *permissions: str, **fields: Any) -> tuple[ApiKey, str]:
    """A key issued and committed: its generation renewed, as after a real commit."""
    with commits():
        return factories.make_key(agent, *permissions, **fields)


def me(client: Client, key: str) -> int:
    return client.get(ME, headers={"x-api-key": key}).status_code


def test_a_served_key_is_kept_and_served_again_without_a_query(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, full = make_key(agent_a)
    assert me(client, full) == 200
    assert records.get(key.key_id) is not None
    redis.trips.clear()
    with CaptureQueriesContext(connection) as queries:
        assert me(client, full) == 200
    assert [q["sql"] for q in queries.captured_queries if "apikeys_apikey" in q["sql"]] == []
    assert redis.trips == ["add_if_current"]  # one round trip, which also counts


def test_without_redis_nothing_is_kept(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    assert not records.enabled()
    assert me(client, full) == 200
    assert records.get(key.key_id) is None


def test_a_deleted_key_is_refused_at_once_where_a_copy_is_kept(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, full = make_key(agent_a)
    assert me(client, full) == 200
    stale = records.get(key.key_id)
    assert stale is not None
    with commits():
        key.delete()
    assert redis.generations[key.key_id] not in (counters.PENDING, stale.generation)
    records._records[key.key_id] = stale  # another process still holds the old copy
    assert me(client, full) == 401


def test_a_change_marks_pending_then_renews_on_commit(
    agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, _ = make_key(agent_a)
    before = records.current_generation(key.key_id)
    with commits():
        key.name = "Renamed"
        key.save()
        assert redis.generations[key.key_id] == counters.PENDING  # before the commit
        assert records.get(key.key_id) is None
    after = redis.generations[key.key_id]
    assert after not in (counters.PENDING, before)


def test_writing_only_the_last_use_tells_no_one(agent_a: Agent, redis: MemoryRedisCounters) -> None:
    key, _ = make_key(agent_a)
    generation = records.current_generation(key.key_id)
    key.save(update_fields=["last_used_at", "last_used_ip"])
    ApiKey.objects.filter(pk=key.pk).update(last_used_ip="10.0.0.1")
    assert redis.generations[key.key_id] == generation
    key.save(update_fields=["name"])
    assert redis.generations[key.key_id] == counters.PENDING


def test_what_tells_the_copies() -> None:
    assert records.tells(None)
    assert records.tells(["name"])
    assert records.tells(["agent"]) and records.tells(["agent_id"])
    assert records.tells(["last_used_at", "expires_at"])
    assert not records.tells(["last_used_at"]) and not records.tells(["last_used_ip"])
    assert not records.tells([])


def test_a_queryset_update_tells_every_copy(agent_a: Agent, redis: MemoryRedisCounters) -> None:
    first, _ = make_key(agent_a)
    second, _ = make_key(agent_a, name="Second")
    kept = {k.key_id: records.current_generation(k.key_id) for k in (first, second)}
    with commits():
        ApiKey.objects.filter(agent=agent_a).update(name="Bulk")
    for key_id, generation in kept.items():
        assert redis.generations[key_id] not in (counters.PENDING, generation)


def test_a_change_redis_cannot_hear_of_is_refused(
    agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, _ = make_key(agent_a)
    redis.down = True
    key.name = "Renamed"
    with pytest.raises(counters.CountersUnavailable):
        key.save()
    redis.down = False
    assert ApiKey.objects.get(pk=key.pk).name != "Renamed"


def test_a_renewal_that_fails_leaves_the_pending_mark_and_is_logged(
    agent_a: Agent,
    redis: MemoryRedisCounters,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key, _ = make_key(agent_a)
    original = redis.renew

    def fail(key_ids: Sequence[str]) -> None:
        raise counters.CountersUnavailable("gone")

    redis.renew = fail  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="apikeys.records"), commits():
        key.name = "Renamed"
        key.save()
    redis.renew = original  # type: ignore[method-assign]
    assert redis.generations[key.key_id] == counters.PENDING
    assert f"Could not renew the generation of API keys {key.key_id}" in caplog.text


def test_a_key_read_while_pending_is_served_but_not_kept(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, full = make_key(agent_a)
    redis.generations[key.key_id] = counters.PENDING
    assert me(client, full) == 200
    assert records.get(key.key_id) is None
    record = records.load(key.key_id, counters.PENDING)
    assert record.found is not None and record.found.pk == key.pk
    assert records.get(key.key_id) is None


def test_load_keeps_the_row_under_its_generation(
    agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, _ = make_key(agent_a)
    record = records.load(key.key_id, "g1")
    assert records.get(key.key_id) is record
    assert record.generation == "g1" and record.found is not None
    assert record.found.pk == key.pk
    unknown = records.load("nosuchkeyid00000", "g2")
    assert unknown.found is None and unknown.key() is None
    assert records.get("nosuchkeyid00000") is unknown


def test_past_the_limit_the_copies_are_dropped(
    agent_a: Agent, redis: MemoryRedisCounters, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "MAX_RECORDS", 2)
    keys = [make_key(agent_a, name=f"K{i}")[0] for i in range(3)]
    records.load(keys[0].key_id, "g")
    records.load(keys[1].key_id, "g")
    assert records.get(keys[0].key_id) is not None and records.get(keys[1].key_id) is not None
    records.load(keys[2].key_id, "g")
    assert records.get(keys[0].key_id) is None and records.get(keys[1].key_id) is None
    assert records.get(keys[2].key_id) is not None


def test_a_request_gets_its_own_copy_of_the_kept_row(
    agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, _ = make_key(agent_a)
    record = records.load(key.key_id, "g")
    served = record.key()
    assert served is not None and served is not record.found
    assert served.key_id == key.key_id and served.agent.pk == agent_a.pk
    served.name = "changed by a request"
    assert record.found is not None and record.found.name == key.name


def test_the_last_use_stamp_reaches_the_kept_copy(
    agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, _ = make_key(agent_a)
    records.load(key.key_id, "g")
    served = records.get(key.key_id).key()  # type: ignore[union-attr]
    assert served is not None

    served.last_used_at = timezone.now()
    records.note_use(served)
    kept = records.get(key.key_id)
    assert kept is not None and kept.found is not None
    assert kept.found.last_used_at == served.last_used_at
    records.load("nosuchkeyid00000", "g")
    records.note_use(ApiKey(key_id="nosuchkeyid00000", last_used_at=served.last_used_at))
    records.note_use(ApiKey(key_id="notkept000000000"))  # neither raises


def test_forget_and_clear(agent_a: Agent, redis: MemoryRedisCounters) -> None:
    first, _ = make_key(agent_a)
    second, _ = make_key(agent_a, name="Second")
    records.load(first.key_id, "g")
    records.load(second.key_id, "g")
    records.forget(first.key_id)
    records.forget("notkept000000000")
    assert records.get(first.key_id) is None and records.get(second.key_id) is not None
    records.clear()
    assert records.get(second.key_id) is None


def test_the_current_generation_counts_nothing_and_is_created_once(
    redis: MemoryRedisCounters,
) -> None:
    generation = records.current_generation("abcdefghabcdefgh")
    assert generation and generation != counters.PENDING
    assert records.current_generation("abcdefghabcdefgh") == generation
    assert redis.counts == {}


def test_changed_without_redis_or_ids_does_nothing(
    agent_a: Agent, redis: MemoryRedisCounters, monkeypatch: pytest.MonkeyPatch
) -> None:
    records.changed(["", ""])
    assert redis.trips == []
    records.load("abcdefghabcdefgh", "g")
    records.changed(["abcdefghabcdefgh", ""])
    assert redis.trips == ["mark_changed"]
    assert redis.generations == {"abcdefghabcdefgh": counters.PENDING}
    assert records.get("abcdefghabcdefgh") is None  # forgotten at once
    redis.trips.clear()
    monkeypatch.setattr(records, "enabled", lambda: False)
    records.changed(["abcdefghabcdefgh"])  # no Redis: nothing to tell
    assert redis.trips == []


def test_a_renamed_agent_renews_its_keys_generations(
    agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, _ = make_key(agent_a)
    generation = records.current_generation(key.key_id)
    with commits():
        agent_a.name = "Renamed agent"
        agent_a.save()
    assert redis.generations[key.key_id] not in (counters.PENDING, generation)


def test_a_new_agent_tells_no_one(redis: MemoryRedisCounters, agent_a: Agent) -> None:
    redis.trips.clear()
    Agent.objects.create(name="Fresh", organization=agent_a.organization)
    assert "mark_changed" not in redis.trips


def test_an_agent_rename_with_redis_down_is_kept_and_logged(
    agent_a: Agent, redis: MemoryRedisCounters, caplog: pytest.LogCaptureFixture
) -> None:
    make_key(agent_a)
    redis.down = True
    with caplog.at_level(logging.WARNING, logger="apikeys.records"):
        agent_a.name = "Renamed agent"
        agent_a.save()
    assert Agent.objects.get(pk=agent_a.pk).name == "Renamed agent"
    assert f"Could not tell the web processes that agent {agent_a.pk} changed" in caplog.text


def test_without_redis_an_agent_rename_asks_nothing(
    agent_a: Agent, redis: MemoryRedisCounters, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_key(agent_a)
    redis.trips.clear()
    monkeypatch.setattr(records, "enabled", lambda: False)
    redis.down = True  # would log a warning if asked
    agent_a.name = "Renamed agent"
    agent_a.save()
    assert redis.trips == []
