"""Kept key rows (apikeys/records.py) on the SQLite pass: an in-memory stand-in for Redis's
counters and generations plays the shared store, so the default `bin/test` and bin/mutation
pin the kept-copy and generation logic without a Redis server. tests/apikeys/test_records.py
walks the same paths against a real Redis on the PostgreSQL + Redis pass."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.db.models.signals import post_save, pre_delete, pre_save
from django.http import HttpResponse
from django.test import Client, TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import Agent
from apikeys import counters, crypto, keyformat, lookup, ratelimit, records, verification
from apikeys.models import ApiKey
from tests import factories
from tests.apikeys.key_changes import allowlist, expire, narrow, revoke, rotate

ME = "/v1/open/keys/me"

pytestmark = pytest.mark.django_db


class Answered:
    """A round trip already answered (the in-memory store has nothing in flight)."""

    def __init__(self, value: tuple[str, list[int] | None]) -> None:
        self.value = value

    def result(self) -> tuple[str, list[int] | None]:
        return self.value


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
        if not isinstance(generation, str):  # redis-py's DataError, a RedisError
            raise counters.CountersUnavailable(f"Invalid input of type {type(generation)}")
        current = self.generations.setdefault(key_id, secrets.token_hex(8))
        if current != generation:
            return current, None
        return current, self._count(entries)

    def start_add_if_current(
        self, key_id: str, generation: str, entries: Sequence[counters.Entry]
    ) -> Answered:
        return Answered(self.add_if_current(key_id, generation, entries))

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


@pytest.fixture(autouse=True)
def _away_from_a_minute_edge() -> None:
    """Tests that compare per-minute counts over several requests start with at least five
    seconds of their minute left, so no window rolls over between their requests."""
    left = 60 - time.time() % 60
    if left < 5:
        time.sleep(left + 0.1)


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


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
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


def test_a_renewal_that_fails_leaves_the_pending_marks_and_is_logged(
    agent_a: Agent,
    redis: MemoryRedisCounters,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, _ = make_key(agent_a)
    second, _ = make_key(agent_a, name="Second")
    original = redis.renew

    def fail(key_ids: Sequence[str]) -> None:
        raise counters.CountersUnavailable("gone")

    redis.renew = fail  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="apikeys.records"), commits():
        ApiKey.objects.filter(agent=agent_a).update(name="Renamed")
    redis.renew = original  # type: ignore[method-assign]
    assert redis.generations[first.key_id] == redis.generations[second.key_id] == counters.PENDING
    [logged] = [r.getMessage() for r in caplog.records if r.name == "apikeys.records"]
    assert logged in (
        f"Could not renew the generation of API keys {first.key_id}, {second.key_id}",
        f"Could not renew the generation of API keys {second.key_id}, {first.key_id}",
    )


def test_the_signals_are_connected_under_their_ids(
    agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    """connect_signals runs once at start-up (ApiKeysConfig.ready); run again here, it
    must connect each receiver for its sender under the same id, so never twice."""
    connected = [
        (pre_save, ApiKey, "apikeys.records.save"),
        (pre_delete, ApiKey, "apikeys.records.delete"),
        (post_save, Agent, "apikeys.records.agent"),
    ]
    for signal, sender, uid in connected:
        assert signal.disconnect(sender=sender, dispatch_uid=uid)
    records.connect_signals()
    for signal, sender, uid in connected:
        assert signal.disconnect(sender=sender, dispatch_uid=uid), uid
    records.connect_signals()
    key, _ = make_key(agent_a)
    redis.trips.clear()
    key.name = "Renamed"
    key.save()
    agent_a.name = "Renamed agent"
    agent_a.save()
    key.delete()
    assert redis.trips == ["mark_changed"] * 3


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


# --- a request served from the kept copy (apikeys/verification.py, `check`) ----------------


def key_count(redis: MemoryRedisCounters, key: ApiKey) -> int:
    minute = ratelimit.key_windows(1, 1)[0]
    return redis.counts.get(minute.bucket(f"key:{key.key_id}", time.time()), 0)


def failures(redis: MemoryRedisCounters, address: str = "127.0.0.1") -> int:
    window = ratelimit.failure_window()
    return redis.counts.get(window.bucket(f"authfail:{address}", time.time()), 0)


def contacts(client: Client, agent: Agent, key: str) -> HttpResponse:
    path = f"/v1/open/contacts/chatbots/{agent.public_id}"
    return client.get(path, headers={"x-api-key": key})


def test_a_kept_key_is_served_from_the_copy_in_one_counting_round_trip(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, full = make_key(agent_a, rate_limit_per_minute=5, rate_limit_per_hour=100)
    with freeze_time("2030-01-01 12:00:30"):  # both requests in one minute
        assert me(client, full) == 200
        redis.trips.clear()
        with mock.patch.object(lookup, "find", wraps=lookup.find) as find:
            response = client.get(ME, headers={"x-api-key": full})
        assert key_count(redis, key) == 2 and failures(redis) == 0
        now = time.time()
    assert response.status_code == 200
    assert response["X-RateLimit-Limit"] == "5" and response["X-RateLimit-Remaining"] == "3"
    assert find.call_count == 0 and redis.trips == ["add_if_current"]
    # The buckets an operator finds in Redis: the key's minute and hour, the address's
    # failures (read, never written, on a served request).
    assert set(redis.counts) == {
        f"key:{key.key_id}:minute:{int(now // 60)}",
        f"key:{key.key_id}:hour:{int(now // 3600)}",
        f"authfail:127.0.0.1:minute:{int(now // 60)}",
    }


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        (narrow, 403, None),
        (allowlist, 403, "Requests from this IP address are not allowed for this API key."),
        (expire, 401, "This API key has expired."),
        (revoke, 401, "Invalid API key."),
        (rotate, 401, "Invalid API key."),
    ],
)
def test_a_stale_copy_refuses_the_very_next_request(
    client: Client,
    agent_a: Agent,
    redis: MemoryRedisCounters,
    change: Callable[[ApiKey], None],
    status: int,
    message: str | None,
) -> None:
    key, full = make_key(agent_a, "contacts_read")
    assert contacts(client, agent_a, full).status_code == 200
    stale = records.get(key.key_id)
    assert stale is not None
    with commits():
        change(key)
    records._records[key.key_id] = stale  # as another process still holds it
    response = contacts(client, agent_a, full)
    assert response.status_code == status
    if message is not None:
        assert response.json()["message"] == message


def test_the_new_secret_works_at_once_where_a_copy_holds_the_old_one(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, old = make_key(agent_a)
    assert me(client, old) == 200
    stale = records.get(key.key_id)
    with commits():
        new = key.rotate(timedelta(0))
    records._records[key.key_id] = stale
    assert me(client, new) == 200
    assert failures(redis) == 0  # the stale copy's "wrong secret" counted nothing
    assert key_count(redis, key) == 2  # and the request counted once, after a fresh read
    kept = records.get(key.key_id)
    assert kept is not None and kept is not stale


def test_a_wrong_secret_counts_a_failure_and_never_the_keys_limit(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="apikeys.verification")
    key, full = make_key(agent_a)
    assert me(client, full) == 200
    wrong = keyformat.compose(key.key_id, keyformat.new_secret())
    unknown = keyformat.compose(keyformat.new_key_id(), keyformat.new_secret())
    for presented in (wrong, wrong, unknown):
        with mock.patch.object(lookup, "find", wraps=lookup.find) as find:
            response = client.get(ME, headers={"x-api-key": presented})
        assert response.status_code == 401
        assert response.json()["message"] == "Invalid API key."
        assert find.call_count == 1  # judged against the row read now, kept or not
    assert failures(redis) == 3
    assert key_count(redis, key) == 1
    assert records.get(keyformat.parse_full_key(unknown).key_id) is None  # never kept
    assert [r.getMessage() for r in caplog.records if r.name == "apikeys.verification"] == [
        f"API key refused: key_id={key.key_id} client=127.0.0.1"
    ] * 2 + [f"API key refused: key_id={keyformat.parse_full_key(unknown).key_id} client=127.0.0.1"]


def test_a_malformed_credential_counts_a_failure(
    client: Client, redis: MemoryRedisCounters
) -> None:
    response = client.get(ME, headers={"x-api-key": "not-a-key"})
    assert response.status_code == 401
    assert failures(redis) == 1


def test_a_key_id_first_seen_unknown_works_once_a_key_takes_it(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key_id, secret = keyformat.new_key_id(), keyformat.new_secret()
    full = keyformat.compose(key_id, secret)
    assert me(client, full) == 401
    key = ApiKey(agent=agent_a, name="late", key_id=key_id)
    key.issue_secret()
    key.secret_hash = crypto.hash_secret(key_id, secret)
    with commits():
        key.save()
    assert me(client, full) == 200


def test_a_key_refused_for_its_address_is_confirmed_and_counts_nothing(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, full = make_key(agent_a, ip_allowlist="203.0.113.7")
    for _ in range(2):  # read and kept, then refused from the copy
        response = client.get(ME, headers={"x-api-key": full})
        assert response.status_code == 403
    assert records.get(key.key_id) is not None
    assert key_count(redis, key) == 0 and failures(redis) == 0
    assert redis.trips.count("add_if_current") == 3  # generation read, then two confirmations


def test_a_kept_key_past_its_limit_hears_429_with_its_reset(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    _, full = make_key(agent_a, rate_limit_per_minute=2, rate_limit_per_hour=100)
    with freeze_time("2030-01-01 12:00:45"):
        responses = [client.get(ME, headers={"x-api-key": full}) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[1]["X-RateLimit-Remaining"] == "0"
    assert responses[2]["Retry-After"] == "15" and responses[2]["X-RateLimit-Reset"] == "15"


@override_settings(APIKEY_FAILURES_PER_CLIENT=2)
def test_past_the_failure_budget_even_the_right_secret_hears_429(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, full = make_key(agent_a)
    assert me(client, full) == 200  # kept
    wrong = keyformat.compose(key.key_id, keyformat.new_secret())
    with freeze_time("2030-01-01 12:00:30"):
        assert [me(client, wrong) for _ in range(3)] == [401, 401, 429]
        refused = client.get(ME, headers={"x-api-key": full})
    assert refused.status_code == 429
    assert refused.json()["message"] == verification.TOO_MANY_FAILURES
    assert refused["Retry-After"] == "30"


def test_a_key_read_while_pending_is_counted_once_and_not_kept(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, full = make_key(agent_a)
    redis.mark_changed([key.key_id])
    redis.trips.clear()
    assert me(client, full) == 200
    assert records.get(key.key_id) is None
    assert key_count(redis, key) == 1
    assert redis.trips == ["add_if_current", "add"]  # the generation read, then the count


def test_a_pending_key_refused_from_its_row_counts_nothing(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, full = make_key(agent_a, ip_allowlist="203.0.113.7")
    redis.mark_changed([key.key_id])
    assert me(client, full) == 403
    assert key_count(redis, key) == 0 and failures(redis) == 0


def test_a_key_that_keeps_changing_is_judged_from_its_row(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, full = make_key(agent_a)
    original = redis.add_if_current

    def always_new(key_id: str, generation: str, entries: Sequence[counters.Entry]) -> Any:
        redis.generations[key_id] = secrets.token_hex(8)  # changed again before every trip
        return original(key_id, generation, entries)

    redis.add_if_current = always_new  # type: ignore[method-assign]
    assert me(client, full) == 200  # after three tries, read and counted as without Redis
    assert redis.trips.count("add_if_current") == 3
    assert records.get(key.key_id) is None
    assert key_count(redis, key) == 1


@pytest.mark.parametrize(("mode", "status"), [("closed", 503), ("open", 200)])
def test_with_redis_down_a_kept_copy_is_dropped_and_the_policy_applies(
    client: Client,
    agent_a: Agent,
    redis: MemoryRedisCounters,
    mode: str,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key, full = make_key(agent_a)
    assert me(client, full) == 200
    redis.down = True
    with override_settings(RATELIMIT_ON_CACHE_FAILURE=mode):
        assert me(client, full) == status
    assert records.get(key.key_id) is None
    warned = [r.getMessage() for r in caplog.records if r.name == "apikeys.verification"]
    if mode == "open":  # what an operator greps for while requests go uncounted
        assert warned == [f"Rate-limit counters unreachable; serving key_id={key.key_id} uncounted"]


def test_a_kept_key_changing_now_is_served_from_its_row_and_dropped(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    """Another process marks the key PENDING (a change not yet committed): this process's
    copy is dropped, the row read now serves, counted once, and nothing is kept."""
    key, full = make_key(agent_a)
    assert me(client, full) == 200
    redis.generations[key.key_id] = counters.PENDING
    redis.trips.clear()
    assert me(client, full) == 200
    assert redis.trips == ["add_if_current", "add"]
    assert records.get(key.key_id) is None
    assert key_count(redis, key) == 2


def test_a_kept_key_renewed_elsewhere_is_read_again_and_kept_under_the_new_generation(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, full = make_key(agent_a)
    assert me(client, full) == 200
    redis.renew([key.key_id])  # another process changed it (committed)
    redis.trips.clear()
    with mock.patch.object(lookup, "find", wraps=lookup.find) as find:
        assert me(client, full) == 200
    assert find.call_count == 1
    assert redis.trips == ["add_if_current", "add_if_current"]  # stale, then counted
    kept = records.get(key.key_id)
    assert kept is not None and kept.generation == redis.generations[key.key_id]
    assert key_count(redis, key) == 2
    redis.trips.clear()
    assert me(client, full) == 200
    assert redis.trips == ["add_if_current"]


def test_a_kept_key_sent_to_a_keyless_route_is_not_counted(
    client: Client, agent_a: Agent, redis: MemoryRedisCounters
) -> None:
    key, full = make_key(agent_a)
    assert me(client, full) == 200  # read and kept
    redis.trips.clear()
    assert client.get("/v1/open/health", headers={"x-api-key": full}).status_code == 200
    assert redis.trips == ["add_if_current", "add"]  # sent ahead, then given back
    assert key_count(redis, key) == 1
