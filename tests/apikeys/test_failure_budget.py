"""Failed authentications are budgeted per client address only: a flood of wrong secrets
for a key id, from any number of addresses, never refuses the key's rightful client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import Agent
from apikeys import counters, keyformat, verification
from apikeys.models import GRACE_PERIODS, ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db
ME = "/v1/open/keys/me"


def call(client: Client, key: str, address: str = "127.0.0.1", **headers: str):
    return client.get(ME, headers={"x-api-key": key, **headers}, REMOTE_ADDR=address)


def forged(key: ApiKey) -> str:
    return keyformat.compose(key.key_id, keyformat.new_secret())


@override_settings(APIKEY_FAILURES_PER_CLIENT=3)
def test_a_flood_from_many_addresses_never_refuses_the_right_secret(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a, rate_limit_per_minute=1000)
    flooders = [f"203.0.113.{n}" for n in range(1, 11)]
    # Within one minute: a new window mid-flood would give the flooders a new budget.
    with freeze_time("2030-01-01 12:00:05"):
        for round_ in range(10):
            statuses = {call(client, forged(key), address).status_code for address in flooders}
            assert statuses == ({401} if round_ < 3 else {429})
            # The rightful client, from its own address, is served throughout.
            assert call(client, full, "198.51.100.5").status_code == 200


@override_settings(APIKEY_FAILURES_PER_CLIENT=3)
def test_random_key_ids_from_many_addresses_never_refuse_the_right_secret(
    client: Client, agent_a: Agent
) -> None:
    _, full = make_key(agent_a)
    for n in range(40):
        unknown = keyformat.compose(keyformat.new_key_id(), keyformat.new_secret())
        call(client, unknown, f"203.0.113.{n % 8}")
    assert call(client, full, "198.51.100.5").status_code == 200


def test_old_secrets_after_a_rotation_do_not_block_the_new_one(
    client: Client, agent_a: Agent
) -> None:
    key, old = make_key(agent_a)
    new = key.rotate(GRACE_PERIODS["none"])
    assert [call(client, old).status_code for _ in range(10)] == [401] * 10
    assert call(client, new).status_code == 200  # same address, within its budget


@override_settings(APIKEY_FAILURES_PER_CLIENT=3)
def test_past_its_budget_an_address_hears_429_until_the_minute_ends(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a)
    start = timezone.now().replace(second=10, microsecond=0) + timedelta(minutes=1)
    with freeze_time(start) as clock:
        assert [call(client, forged(key)).status_code for _ in range(4)] == [401] * 3 + [429]
        # The right secret too: past the budget, the answer tells a guesser nothing.
        refused = call(client, full)
        assert refused.status_code == 429
        assert refused.json() == {
            "success": False,
            "message": verification.TOO_MANY_FAILURES,
            "errors": {},
        }
        assert refused["Retry-After"] == "50"
        assert "X-RateLimit-Remaining" not in refused
        # Another address is not affected.
        assert call(client, full, "198.51.100.5").status_code == 200
        clock.tick(timedelta(seconds=51))
        assert call(client, full).status_code == 200


@override_settings(APIKEY_FAILURES_PER_CLIENT=3)
def test_missing_and_malformed_credentials_count_against_the_address(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a)
    statuses = [
        client.get(ME).status_code,  # no key at all
        client.get(ME, headers={"authorization": "Basic abc"}).status_code,
        call(client, full[:-1] + ("0" if full[-1] != "0" else "1")).status_code,  # checksum
        call(client, key.key_id, **{"x-api-secret": "short"}).status_code,
    ]
    assert statuses == [401, 401, 401, 429]


def test_failed_attempts_do_not_use_up_the_keys_rate_limit(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a, rate_limit_per_minute=5)
    for n in range(20):
        call(client, forged(key), f"203.0.113.{n}")
    served = call(client, full, "198.51.100.5")
    assert served.status_code == 200
    assert served["X-RateLimit-Remaining"] == "4"


# --- when the counters cannot be reached (Redis down), in-process with a fake ---------


@pytest.fixture
def counters_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(entries: object) -> list[int]:
        raise counters.CountersUnavailable("connection refused")

    monkeypatch.setattr(counters, "add", unreachable)


def test_closed_a_failure_that_cannot_be_counted_is_503(counters_down: None) -> None:
    with pytest.raises(verification.Refusal) as refused:
        verification.count_failure("203.0.113.9")
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "5"}


@override_settings(RATELIMIT_ON_CACHE_FAILURE="open")
def test_open_a_failure_that_cannot_be_counted_is_a_plain_401(
    client: Client, agent_a: Agent, counters_down: None
) -> None:
    key, _ = make_key(agent_a)
    verification.count_failure("203.0.113.9")  # no Refusal: the caller answers 401
    assert call(client, forged(key)).status_code == 401


def test_closed_a_valid_key_that_cannot_be_counted_is_503(
    client: Client, agent_a: Agent, counters_down: None
) -> None:
    _, full = make_key(agent_a)
    response = call(client, full)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "cache" in response.json()["message"]


@override_settings(RATELIMIT_ON_CACHE_FAILURE="open")
def test_open_a_valid_key_that_cannot_be_counted_is_served_uncounted(
    client: Client, agent_a: Agent, counters_down: None
) -> None:
    key, full = make_key(agent_a)
    response = call(client, full)
    assert response.status_code == 200 and "X-RateLimit-Limit" not in response
    assert verification.admit(key, "127.0.0.1").counted is False


# --- the boundaries, in process with a fake store -----------------------------------------


class FakeCounters:
    """Answers the counts it is told to and records what it was asked."""

    def __init__(self, counts: list[int]) -> None:
        self.counts = counts
        self.asked: list[list[counters.Entry]] = []

    def add(self, entries: list[counters.Entry]) -> list[int]:
        self.asked.append(list(entries))
        return self.counts[: len(entries)]


@pytest.fixture
def budget_of_3() -> None:
    with override_settings(APIKEY_FAILURES_PER_CLIENT=3):
        yield


def fake(monkeypatch: pytest.MonkeyPatch, counts: list[int]) -> FakeCounters:
    store = FakeCounters(counts)
    monkeypatch.setattr(counters, "add", store.add)
    return store


@pytest.mark.parametrize(("failures", "refused"), [(1, False), (3, False), (4, True)])
def test_a_failure_is_refused_only_past_the_budget(
    monkeypatch: pytest.MonkeyPatch, budget_of_3: None, failures: int, refused: bool
) -> None:
    store = fake(monkeypatch, [failures])
    with freeze_time("2030-01-01 12:00:45"):
        if refused:
            with pytest.raises(verification.Refusal) as refusal:
                verification.count_failure("203.0.113.9")
            assert refusal.value.status == 429
            assert refusal.value.headers == {"Retry-After": "15"}
        else:
            verification.count_failure("203.0.113.9")
    [[(bucket, seconds, amount)]] = store.asked
    assert bucket.startswith("authfail:203.0.113.9:minute:") and (seconds, amount) == (60, 1)


def test_admit_counts_both_windows_and_reads_the_failures_in_one_call(
    monkeypatch: pytest.MonkeyPatch, agent_a: Agent, budget_of_3: None
) -> None:
    key, _ = make_key(agent_a, rate_limit_per_minute=5, rate_limit_per_hour=50)
    store = fake(monkeypatch, [2, 7, 2])
    decision = verification.admit(key, "198.51.100.5")
    [entries] = store.asked
    assert [(seconds, amount) for _, seconds, amount in entries] == [(60, 1), (3600, 1), (60, 0)]
    assert entries[0][0].startswith(f"key:{key.key_id}:minute:")
    assert entries[2][0].startswith("authfail:198.51.100.5:minute:")
    assert decision.allowed and (decision.limit, decision.remaining) == (5, 3)


@pytest.mark.parametrize(("failures", "refused"), [(2, False), (3, True)])
def test_admit_refuses_an_address_that_used_up_its_failures(
    monkeypatch: pytest.MonkeyPatch, agent_a: Agent, budget_of_3: None, failures: int, refused: bool
) -> None:
    key, _ = make_key(agent_a)
    fake(monkeypatch, [1, 1, failures])
    if refused:
        with pytest.raises(verification.Refusal) as refusal:
            verification.admit(key, "198.51.100.5")
        assert refusal.value.status == 429
        assert 1 <= int(refusal.value.headers["Retry-After"]) <= 60
    else:
        assert verification.admit(key, "198.51.100.5").allowed


def test_admit_reports_a_key_over_its_limit(
    monkeypatch: pytest.MonkeyPatch, agent_a: Agent
) -> None:
    key, _ = make_key(agent_a, rate_limit_per_minute=5, rate_limit_per_hour=50)
    fake(monkeypatch, [6, 6, 0])
    decision = verification.admit(key, "198.51.100.5")
    assert not decision.allowed and decision.remaining == 0 and decision.retry_after >= 1
