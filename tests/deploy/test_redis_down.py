"""Redis down (in-process, a cache URL nobody listens on): the decision in docs/deploy.md.

RATELIMIT_ON_CACHE_FAILURE="closed" (default): Open API calls are refused with 503 in the
envelope, with Retry-After; "open": served, uncounted, without rate-limit headers. Either
way health says the cache is down, and the database-backed parts keep working."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from tests.deploy.services import free_port
from tests.factories import make_key

pytestmark = pytest.mark.django_db

DEAD_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
    }
}


@pytest.fixture
def key(agent_a) -> str:  # type: ignore[no-untyped-def]
    return make_key(agent_a, "contacts_read")[1]


def test_rate_limits_fail_closed_by_default(client: Client, key: str) -> None:
    with override_settings(CACHES=DEAD_REDIS):
        response = client.get("/v1/open/keys/me", headers={"x-api-key": key})
        health = client.get("/v1/open/health")
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False and "cache" in body["message"] and body["errors"] == {}
    assert response["Retry-After"] == "5"
    assert health.status_code == 503
    assert health.json()["data"] == {"database": "ok", "cache": "unavailable"}


def test_a_bad_key_is_refused_closed_too(client: Client, key: str) -> None:
    with override_settings(CACHES=DEAD_REDIS):
        response = client.get("/v1/open/keys/me", headers={"x-api-key": key[:-3] + "zzz"})
    assert response.status_code in (401, 503)
    assert response.json()["success"] is False


@override_settings(RATELIMIT_ON_CACHE_FAILURE="open")
def test_rate_limits_fail_open_when_configured(client: Client, key: str) -> None:
    with override_settings(CACHES=DEAD_REDIS):
        first = client.get("/v1/open/keys/me", headers={"x-api-key": key})
        second = client.get("/v1/open/keys/me", headers={"x-api-key": key})
    assert first.status_code == second.status_code == 200, first.content
    assert "X-RateLimit-Limit" not in first  # nothing was counted, so nothing is claimed


def test_the_check_refuses_an_unknown_policy() -> None:
    from apikeys.checks import check_api_key_settings as check_settings

    with override_settings(RATELIMIT_ON_CACHE_FAILURE="maybe"):
        assert "a2v2.E005" in [problem.id for problem in check_settings()]


def test_each_refused_call_is_one_log_line_and_none_a_traceback(
    client: Client, key: str, caplog
) -> None:
    import logging

    from a2v2.outage import outage

    caplog.set_level(logging.INFO)
    with override_settings(CACHES=DEAD_REDIS):
        for _ in range(4):
            assert client.get("/v1/open/keys/me", headers={"x-api-key": key}).status_code == 503
    outage("cache").succeeded()  # leave no outage state to the next test

    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    cache_lines = [r.getMessage() for r in caplog.records if r.name == "a2v2.outage"]
    assert cache_lines[0].startswith("cache unavailable (Open API)")
    assert sum("cache still unavailable" in line for line in cache_lines) == 3
    assert not [r for r in caplog.records if r.name == "django.request"]  # no 503 line each
