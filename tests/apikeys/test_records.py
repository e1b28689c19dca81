"""With Redis, a process keeps each key's row and confirms it with the key's generation in
the round trip that counts (apikeys/records.py). Another process's stale copy is played
here by putting the copy taken before a change back after it; tests/apikeys/
test_multiprocess.py does the same with real gunicorn workers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import caches
from django.db import connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Agent, AuditEvent
from apikeys import counters, crypto, keyformat, lookup, ratelimit, records
from apikeys.models import ApiKey
from tests.apikeys.key_changes import allowlist, expire, narrow, revoke, rotate
from tests.conftest import client_for
from tests.deploy.test_redis_down import DEAD_REDIS
from tests.factories import make_key

ME = "/v1/open/keys/me"

pytestmark = pytest.mark.django_db(transaction=True)  # so changes commit and renew


@pytest.fixture(autouse=True)
def _redis_only() -> Iterator[None]:
    if "redis" not in caches["default"].__module__:
        pytest.skip("needs the Redis cache (the PostgreSQL + Redis pass)")
    yield


def get_me(client: Client, key: str) -> int:
    return client.get(ME, headers={"x-api-key": key}).status_code


def contacts(client: Client, agent: Agent, key: str) -> int:
    path = f"/v1/open/contacts/chatbots/{agent.public_id}"
    return client.get(path, headers={"x-api-key": key}).status_code


def failures(client_address: str = "127.0.0.1") -> int:
    window = ratelimit.failure_window()
    bucket = window.bucket(f"authfail:{client_address}", time.time())
    return counters.add([(bucket, window.seconds, 0)])[0]


def key_count(key: ApiKey) -> int:
    minute = ratelimit.key_windows(1, 1)[0]
    return counters.add([(minute.bucket(f"key:{key.key_id}", time.time()), 60, 0)])[0]


def test_a_kept_key_costs_no_query_and_one_round_trip(client: Client, agent_a: Agent) -> None:
    _, full = make_key(agent_a)
    assert get_me(client, full) == 200  # read and kept
    with (
        CaptureQueriesContext(connection) as queries,
        mock.patch.object(lookup, "find", wraps=lookup.find) as find,
        mock.patch.object(counters._Line, "send", autospec=True, wraps=counters._Line.send) as sent,
    ):
        assert get_me(client, full) == 200
    assert len(queries) == 0 and find.call_count == 0  # (the lookup bypasses Django's cursor)
    assert sent.call_count == 1  # one command written to Redis


@pytest.mark.parametrize(
    ("change", "expected"),
    [(narrow, 403), (allowlist, 403), (expire, 401), (revoke, 401), (rotate, 401)],
)
def test_a_stale_copy_refuses_the_very_next_request(
    client: Client, agent_a: Agent, change: Callable[[ApiKey], None], expected: int
) -> None:
    key, full = make_key(agent_a, "contacts_read")
    assert contacts(client, agent_a, full) == 200
    stale = records.get(key.key_id)
    assert stale is not None

    change(key)
    records._records[key.key_id] = stale  # as another process still holds it

    assert contacts(client, agent_a, full) == expected


def test_the_new_secret_works_at_once_where_a_copy_holds_the_old_one(
    client: Client, agent_a: Agent
) -> None:
    key, old = make_key(agent_a)
    assert get_me(client, old) == 200
    stale = records.get(key.key_id)
    new = key.rotate(timedelta(0))
    records._records[key.key_id] = stale

    assert get_me(client, new) == 200
    assert failures() == 0  # the stale copy's "wrong secret" counted nothing
    assert key_count(key) == 2  # and the request counted once, after the copy was read again


def test_a_wrong_secret_counts_a_failure_and_never_the_keys_limit(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a)
    assert get_me(client, full) == 200
    presented = keyformat.parse_full_key(full)
    wrong = keyformat.compose(presented.key_id, "x" * len(presented.secret))
    for _ in range(3):
        assert get_me(client, wrong) == 401
    assert failures() == 3
    assert key_count(key) == 1


def test_a_wrong_secret_is_judged_against_the_row_kept_or_not(
    client: Client, agent_a: Agent
) -> None:
    """So a wrong secret costs what an unknown id costs (one lookup, one round trip),
    whether or not the process keeps the key: timing tells no key id apart."""
    key, full = make_key(agent_a)
    assert get_me(client, full) == 200
    assert records.get(key.key_id) is not None
    wrong = keyformat.compose(key.key_id, keyformat.new_secret())
    unknown = keyformat.compose(keyformat.new_key_id(), keyformat.new_secret())
    for presented in (wrong, unknown):
        with mock.patch.object(lookup, "find", wraps=lookup.find) as find:
            assert get_me(client, presented) == 401
        assert find.call_count == 1
    assert records.get(keyformat.parse_full_key(unknown).key_id) is None  # never kept


def test_a_key_id_first_seen_unknown_works_once_a_key_takes_it(
    client: Client, agent_a: Agent
) -> None:
    key_id, secret = keyformat.new_key_id(), keyformat.new_secret()
    full = keyformat.compose(key_id, secret)
    assert get_me(client, full) == 401

    key = ApiKey(agent=agent_a, name="late", key_id=key_id)
    key.issue_secret()
    key.secret_hash = crypto.hash_secret(key_id, secret)
    key.save()

    assert get_me(client, full) == 200


def test_a_renamed_agent_reaches_the_kept_copies(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    client.get(ME, headers={"x-api-key": full})
    stale = records.get(key.key_id)
    agent_a.name = "Renamed bot"
    agent_a.save()
    records._records[key.key_id] = stale

    response = client.get(ME, headers={"x-api-key": full})
    assert response.json()["data"]["agent"]["name"] == "Renamed bot"


def test_nothing_is_kept_while_a_change_is_uncommitted(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    with transaction.atomic():
        ApiKey.objects.filter(pk=key.pk).update(name="changing")
        assert records.current_generation(key.key_id) == counters.PENDING
        # Another connection (this test client shares ours) would read the old row: served,
        # not kept.
        records.forget(key.key_id)
    assert records.current_generation(key.key_id) != counters.PENDING
    assert get_me(client, full) == 200
    assert records.get(key.key_id) is not None


def test_a_key_read_while_pending_is_served_but_not_kept(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    records.store().mark_changed([key.key_id])
    assert get_me(client, full) == 200
    assert records.get(key.key_id) is None
    assert key_count(key) == 1


def test_the_last_use_stamp_tells_no_process(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    assert get_me(client, full) == 200
    kept = records.get(key.key_id)
    assert get_me(client, full) == 200
    assert records.get(key.key_id) is kept  # the stamp did not renew the generation
    key.refresh_from_db()
    assert key.last_used_at is not None
    with CaptureQueriesContext(connection) as queries:
        assert get_me(client, full) == 200
    assert len(queries) == 0  # stamped within the minute: not written again


def test_a_change_redis_cannot_hear_of_is_refused(agent_a: Agent) -> None:
    key, _ = make_key(agent_a, "contacts_read")
    with override_settings(CACHES=DEAD_REDIS), pytest.raises(counters.CountersUnavailable):
        ApiKey.objects.filter(pk=key.pk).update(contacts_read=False)
    key.refresh_from_db()
    assert key.contacts_read


def test_with_redis_down_a_kept_copy_is_dropped_and_the_policy_applies(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a)
    assert get_me(client, full) == 200
    with override_settings(CACHES=DEAD_REDIS):
        assert get_me(client, full) == 503
        assert records.get(key.key_id) is None
        with override_settings(RATELIMIT_ON_CACHE_FAILURE="open"):
            assert get_me(client, full) == 200


def test_after_a_restore_every_kept_copy_is_read_again(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a, "contacts_read")
    assert contacts(client, agent_a, full) == 200
    with connection.cursor() as cursor:  # rows written around the ORM, as pg_restore does
        cursor.execute(
            "UPDATE apikeys_apikey SET contacts_read = %s WHERE id = %s", [False, key.pk]
        )
    assert contacts(client, agent_a, full) == 200  # nobody was told

    records.store().renew_all()  # what restore_backup does after loading

    assert contacts(client, agent_a, full) == 403


def test_the_ui_says_a_change_was_not_made_while_redis_is_down(
    owner: object, agent_a: Agent
) -> None:
    key, _ = make_key(agent_a, "contacts_read")
    page = reverse("apikeys:api-key-delete", args=[agent_a.public_id, key.key_id])
    with override_settings(CACHES=DEAD_REDIS):
        response = client_for(owner).post(page, follow=True)
    assert ApiKey.objects.filter(pk=key.pk).exists()
    assert "Nothing was changed" in response.content.decode()
    assert not AuditEvent.objects.filter(description__startswith="Deleted API key").exists()


@pytest.mark.parametrize(
    "path", ["/v1/open/health", "/v1/open/no-such-endpoint", "/v1/open/openapi.json"]
)
def test_a_kept_key_sent_to_a_keyless_route_is_not_counted(
    client: Client, agent_a: Agent, path: str
) -> None:
    """The middleware sends a kept key's admission before it knows the route; a route that
    needs no key gives the counts back."""
    key, full = make_key(agent_a)
    assert get_me(client, full) == 200  # read and kept
    assert key_count(key) == 1
    response = client.get(path, headers={"x-api-key": full})
    assert response.status_code in (200, 404) and "X-RateLimit-Remaining" not in response
    assert key_count(key) == 1
    assert get_me(client, full) == 200
    assert key_count(key) == 2
