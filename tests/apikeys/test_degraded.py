"""What /v1/open answers when the shared counters (Redis) or the database fail, at each
step of a request, with RATELIMIT_ON_CACHE_FAILURE "closed" (the default) and "open".

"closed" never serves a request it could not count and never answers a credential it
could not count as a failure (503, retry shortly); "open" serves valid keys uncounted and
still refuses every bad credential. Nothing here ever accepts a wrong secret."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.http import HttpResponse
from django.test import Client, override_settings
from django.utils import timezone

from a2v2.outage import outage
from accounts.models import Agent
from apikeys import counters, keyformat, records
from tests.deploy.services import free_port
from tests.factories import make_key

pytestmark = pytest.mark.django_db
ME = "/v1/open/keys/me"
CACHE_DOWN = "Rate limiting is unavailable (the cache is down); try again shortly."
DATABASE_DOWN = "The database is unavailable; try again shortly."
INVALID = "Invalid API key."
LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def answer(response: HttpResponse) -> tuple[int, str, str | None]:
    return response.status_code, response.json()["message"], response.get("Retry-After")


@pytest.fixture(params=["closed", "open"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    with override_settings(RATELIMIT_ON_CACHE_FAILURE=request.param):
        yield request.param


@pytest.fixture
def redis_down() -> Iterator[None]:
    """The deployment's Redis, unreachable (nothing listens on its port)."""
    dead = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    with override_settings(CACHES=dead):
        yield
    outage("cache").succeeded()


@pytest.fixture
def keys(agent_a: Agent) -> dict[str, str]:
    key, full = make_key(agent_a)
    _, expired = make_key(agent_a, expires_at=timezone.now() + timedelta(hours=1))
    from apikeys.models import ApiKey

    ApiKey.objects.filter(key_id=keyformat.parse_full_key(expired).key_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    _, elsewhere = make_key(agent_a, ip_allowlist="203.0.113.0/24")
    return {
        "valid": full,
        "wrong secret": keyformat.compose(key.key_id, keyformat.new_secret()),
        "unknown id": keyformat.compose(keyformat.new_key_id(), keyformat.new_secret()),
        "malformed": full[:-1] + ("0" if full[-1] != "0" else "1"),
        "expired": expired,
        "not allowlisted": elsewhere,
    }


MALFORMED = "The API key is malformed (checksum mismatch)."
EXPIRED = "This API key has expired."
NOT_ALLOWED = "Requests from this IP address are not allowed for this API key."

# What each credential gets while the counters cannot be reached, per mode.
WHEN_COUNTERS_ARE_DOWN = {
    "valid": {"closed": (503, CACHE_DOWN, "5"), "open": (200, "This API key is valid.", None)},
    "wrong secret": {"closed": (503, CACHE_DOWN, "5"), "open": (401, INVALID, None)},
    "unknown id": {"closed": (503, CACHE_DOWN, "5"), "open": (401, INVALID, None)},
    "malformed": {"closed": (503, CACHE_DOWN, "5"), "open": (401, MALFORMED, None)},
    # Refused before anything is counted: the same in both modes.
    "expired": {"closed": (401, EXPIRED, None), "open": (401, EXPIRED, None)},
    "not allowlisted": {"closed": (403, NOT_ALLOWED, None), "open": (403, NOT_ALLOWED, None)},
}


@pytest.mark.parametrize("credential", list(WHEN_COUNTERS_ARE_DOWN))
def test_with_redis_down_each_credential_gets_the_answer_of_its_mode(
    client: Client, keys: dict[str, str], mode: str, redis_down: None, credential: str
) -> None:
    response = client.get(ME, headers={"x-api-key": keys[credential]})
    assert answer(response) == WHEN_COUNTERS_ARE_DOWN[credential][mode]
    # Nothing was counted, so no limits are claimed.
    assert not [name for name in LIMIT_HEADERS if name in response]


def test_with_redis_down_missing_credentials_follow_the_mode_too(
    client: Client, mode: str, redis_down: None
) -> None:
    status, message, retry = answer(client.get(ME))
    if mode == "closed":
        assert (status, message, retry) == (503, CACHE_DOWN, "5")
    else:
        assert status == 401 and message.startswith("Missing API key.") and retry is None


def test_with_redis_down_a_key_in_the_url_is_still_refused(
    client: Client, mode: str, redis_down: None
) -> None:
    assert client.get(ME, {"api_key": "x"}).status_code == 400


class SilentRedis(threading.Thread):
    """A Redis that takes connections and answers the client's greeting, then never answers
    a command of the counters (a hung server)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

    def run(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.listener.accept()
                threading.Thread(target=self.greet, args=(connection,), daemon=True).start()

    def greet(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError), connection:
            while data := connection.recv(65536):
                if b"HELLO" in data:  # the greeting: speak RESP3
                    connection.sendall(b"%1\r\n$5\r\nproto\r\n:3\r\n")
                elif b"EVALSHA" not in data:  # CLIENT SETINFO, SELECT…: one +OK each
                    commands = data.count(b"\r\n*") + data.startswith(b"*")
                    connection.sendall(b"+OK\r\n" * commands)


@pytest.fixture
def redis_silent() -> Iterator[None]:
    server = SilentRedis()
    server.start()
    silent = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{server.port}/0",
            "OPTIONS": {"socket_timeout": 0.2, "socket_connect_timeout": 0.2},
        }
    }
    with override_settings(CACHES=silent):
        yield
    server.listener.close()
    outage("cache").succeeded()


def test_a_redis_that_never_answers_is_an_outage_after_its_timeout_not_a_hang(
    client: Client, keys: dict[str, str], redis_silent: None
) -> None:
    started = time.monotonic()
    response = client.get(ME, headers={"x-api-key": keys["valid"]})
    assert answer(response) == (503, CACHE_DOWN, "5")
    # Each of the two reads (the kept copy's, then the row's) waits its timeout twice (one
    # retry on a dropped connection): about 0.8 s, never the default 5 s or forever.
    assert time.monotonic() - started < 3


# --- the counters failing at one step only (a fake store that raises on chosen calls) ----


class FlakyCounters:
    """Counts in memory, raising CountersUnavailable on the calls it is told to."""

    def __init__(self, failing_calls: set[int]) -> None:
        self.failing_calls = failing_calls
        self.calls = 0
        self.counts: dict[str, int] = {}

    def add(self, entries: list[counters.Entry]) -> list[int]:
        self.calls += 1
        if self.calls in self.failing_calls:
            raise counters.CountersUnavailable("connection reset")
        result = []
        for bucket, _, amount in entries:
            self.counts[bucket] = self.counts.get(bucket, 0) + amount
            result.append(self.counts[bucket])
        return result


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FlakyCounters]:
    def install(*failing_calls: int) -> FlakyCounters:
        store = FlakyCounters(set(failing_calls))
        monkeypatch.setattr(counters, "add", store.add)
        # Every round trip through the fake: with Redis, kept key rows would count through
        # add_if_current instead (tests/apikeys/test_records.py pins that path's outages).
        monkeypatch.setattr(records, "enabled", lambda: False)
        return store

    return install


@override_settings(APIKEY_FAILURES_PER_CLIENT=2)
def test_failures_counted_before_an_outage_still_refuse_after_it(
    client: Client, keys: dict[str, str], mode: str, flaky: Callable[..., FlakyCounters]
) -> None:
    flaky(3)  # the third round trip fails
    wrong = {"x-api-key": keys["wrong secret"]}
    assert client.get(ME, headers=wrong).status_code == 401
    assert client.get(ME, headers=wrong).status_code == 401
    during = client.get(ME, headers=wrong)
    assert answer(during) == ((503, CACHE_DOWN, "5") if mode == "closed" else (401, INVALID, None))
    # Back up: the address has used its budget, so even the right secret hears 429.
    after = client.get(ME, headers={"x-api-key": keys["valid"]})
    assert after.status_code == 429


def test_an_outage_while_serving_a_valid_key_is_uncounted_only_in_open_mode(
    client: Client, keys: dict[str, str], mode: str, flaky: Callable[..., FlakyCounters]
) -> None:
    store = flaky(2)
    valid = {"x-api-key": keys["valid"]}
    first = client.get(ME, headers=valid)
    assert first.status_code == 200 and first["X-RateLimit-Remaining"] == "59"
    during = client.get(ME, headers=valid)
    if mode == "closed":
        assert answer(during) == (503, CACHE_DOWN, "5")
    else:
        assert during.status_code == 200
        assert not [name for name in LIMIT_HEADERS if name in during]
    after = client.get(ME, headers=valid)
    assert after.status_code == 200 and after["X-RateLimit-Remaining"] == "58"
    assert store.calls == 3


def test_in_open_mode_a_wrong_secret_is_never_served(
    client: Client, keys: dict[str, str], flaky: Callable[..., FlakyCounters]
) -> None:
    flaky(*range(1, 100))  # every round trip fails
    with override_settings(RATELIMIT_ON_CACHE_FAILURE="open"):
        for credential in ("wrong secret", "unknown id", "malformed"):
            response = client.get(ME, headers={"x-api-key": keys[credential]})
            assert response.status_code == 401, credential


# --- the database failing -------------------------------------------------------------


@pytest.fixture
def database_fails(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Make statements that match a predicate raise OperationalError, as a database that
    went away would."""
    # The key lookup runs as a server-side prepared statement on PostgreSQL, below
    # Django's cursor wrappers; the pooled path goes through them like SQLite's.
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    failing: list[str] = []

    def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if any(part in sql for part in failing):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield failing.append
    # The failed statement marked the test's transaction for rollback, as it would mark a
    # request's; nothing reached the database, so the test's teardown may go on using it.
    transaction.set_rollback(False)
    outage("database").succeeded()


def test_a_database_that_fails_on_the_key_lookup_is_503_never_401(
    client: Client, keys: dict[str, str], database_fails: Callable[[str], None]
) -> None:
    database_fails('FROM "apikeys_apikey"')
    for credential in ("valid", "wrong secret", "unknown id"):
        response = client.get(ME, headers={"x-api-key": keys[credential]})
        assert answer(response) == (503, DATABASE_DOWN, "5"), credential
        assert "WWW-Authenticate" not in response


def test_a_database_that_fails_to_record_the_last_use_still_serves(
    client: Client, keys: dict[str, str], database_fails: Callable[[str], None]
) -> None:
    database_fails('UPDATE "apikeys_apikey"')
    response = client.get(ME, headers={"x-api-key": keys["valid"]})
    assert response.status_code == 200 and response["X-RateLimit-Remaining"] == "59"
