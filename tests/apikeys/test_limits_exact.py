"""Budgets per key and per client address, with the exact 429, Retry-After and
X-RateLimit-* values a client reads, under a frozen clock."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings
from freezegun import freeze_time

from accounts.models import Agent
from apikeys import keyformat
from apikeys.models import ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db
ME = "/v1/open/keys/me"
RATE_LIMITED = "Rate limit exceeded for this API key."
TOO_MANY_FAILURES = "Too many failed authentication attempts; try again in a minute."


def call(client: Client, key: str, address: str = "198.51.100.5") -> HttpResponse:
    return client.get(ME, headers={"x-api-key": key}, REMOTE_ADDR=address)


def limits(response: HttpResponse) -> tuple[str | None, ...]:
    names = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")
    return tuple(response.get(name) for name in names)


def forged(key: ApiKey) -> str:
    return keyformat.compose(key.key_id, keyformat.new_secret())


def test_the_minute_window_counts_down_and_refuses_with_its_reset(
    client: Client, agent_a: Agent
) -> None:
    _, full = make_key(agent_a, rate_limit_per_minute=2, rate_limit_per_hour=100)
    with freeze_time("2030-01-01 12:00:45"):
        first, second, third = (call(client, full) for _ in range(3))
    assert first.status_code == second.status_code == 200
    assert limits(first) == ("2", "1", "15", None)
    assert limits(second) == ("2", "0", "15", None)
    assert third.status_code == 429
    assert third.json() == {"success": False, "message": RATE_LIMITED, "errors": {}}
    assert limits(third) == ("2", "0", "15", "15")


def test_the_next_minute_serves_again(client: Client, agent_a: Agent) -> None:
    _, full = make_key(agent_a, rate_limit_per_minute=1, rate_limit_per_hour=100)
    with freeze_time("2030-01-01 12:00:59.5") as clock:
        assert call(client, full).status_code == 200
        refused = call(client, full)
        assert refused.status_code == 429 and refused["Retry-After"] == "1"  # never "0"
        clock.tick(0.5)
        served = call(client, full)
    assert served.status_code == 200 and limits(served) == ("1", "0", "60", None)


def test_the_hour_window_reports_itself_when_it_is_the_tighter(
    client: Client, agent_a: Agent
) -> None:
    _, full = make_key(agent_a, rate_limit_per_minute=5, rate_limit_per_hour=6)
    with freeze_time("2030-01-01 10:00:50") as clock:
        call(client, full)
        in_first_minute = call(client, full)
        clock.tick(60)
        in_second_minute = call(client, full)
    # 2 used: 3 left this minute, 4 this hour: the minute is reported.
    assert limits(in_first_minute) == ("5", "3", "10", None)
    # 1 used this minute (4 left), 3 this hour (3 left): the hour is reported.
    assert limits(in_second_minute) == ("6", "3", str(3600 - 110), None)


def test_over_the_hour_the_retry_waits_for_the_hour(client: Client, agent_a: Agent) -> None:
    _, full = make_key(agent_a, rate_limit_per_minute=2, rate_limit_per_hour=3)
    with freeze_time("2030-01-01 10:19:30") as clock:
        assert [call(client, full).status_code for _ in range(2)] == [200, 200]
        clock.tick(60)
        served, refused = call(client, full), call(client, full)
    assert served.status_code == 200 and limits(served) == ("3", "0", "2370", None)
    # Room left this minute (2 of 2), none this hour (4 of 3).
    assert refused.status_code == 429
    assert limits(refused) == ("3", "0", "2370", "2370")


def test_over_both_windows_the_retry_waits_for_the_later_reset(
    client: Client, agent_a: Agent
) -> None:
    _, full = make_key(agent_a, rate_limit_per_minute=1, rate_limit_per_hour=1)
    with freeze_time("2030-01-01 10:59:30"):
        call(client, full)
        refused = call(client, full)
    assert refused.status_code == 429 and refused["Retry-After"] == "30"
    with freeze_time("2030-01-01 10:20:30"):
        call(client, full)  # a new hour and minute: served
        refused = call(client, full)
    assert refused.status_code == 429 and refused["Retry-After"] == "2370"


@override_settings(APIKEY_FAILURES_PER_CLIENT=3)
def test_an_address_is_refused_after_using_up_its_failures_until_the_minute_ends(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a)
    with freeze_time("2030-01-01 12:00:45") as clock:
        assert [call(client, forged(key)).status_code for _ in range(2)] == [401, 401]
        # Two failures of three: the right secret is still served, and counted as usual.
        served = call(client, full)
        assert served.status_code == 200 and limits(served) == ("60", "59", "15", None)
        assert call(client, forged(key)).status_code == 401  # the third
        for attempt in (forged(key), full, "garbage"):
            refused = call(client, attempt)
            assert refused.status_code == 429
            assert refused.json() == {"success": False, "message": TOO_MANY_FAILURES, "errors": {}}
            assert limits(refused) == (None, None, None, "15")
            assert "WWW-Authenticate" not in refused
        assert call(client, full, "198.51.100.6").status_code == 200  # another address
        clock.tick(15)
        served = call(client, full)
    assert served.status_code == 200


@override_settings(APIKEY_FAILURES_PER_CLIENT=1)
def test_addresses_that_cannot_be_read_share_one_budget(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    assert call(client, forged(key), "not-an-address").status_code == 401
    assert call(client, forged(key), "").status_code == 429
    assert call(client, full, "198.51.100.5").status_code == 200


@override_settings(APIKEY_FAILURES_PER_CLIENT=2, TRUSTED_PROXIES=["10.0.0.0/8"])
def test_behind_a_trusted_proxy_the_budget_is_the_forwarded_clients(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a)

    def via_proxy(value: str, forwarded: str) -> HttpResponse:
        headers = {"x-api-key": value, "x-forwarded-for": forwarded}
        return client.get(ME, headers=headers, REMOTE_ADDR="10.0.0.2")

    assert [via_proxy(forged(key), "203.0.113.9").status_code for _ in range(3)] == [401, 401, 429]
    assert via_proxy(full, "203.0.113.9").status_code == 429
    assert via_proxy(full, "203.0.113.10").status_code == 200  # the proxy itself is not blamed


def test_an_allowlisted_key_from_elsewhere_is_403_and_not_a_failure(
    client: Client, agent_a: Agent
) -> None:
    _, full = make_key(agent_a, ip_allowlist="203.0.113.0/24")
    with override_settings(APIKEY_FAILURES_PER_CLIENT=1):
        for _ in range(3):
            refused = call(client, full, "198.51.100.5")
            assert refused.status_code == 403
            assert refused.json()["message"] == (
                "Requests from this IP address are not allowed for this API key."
            )
        assert call(client, full, "203.0.113.5").status_code == 200
