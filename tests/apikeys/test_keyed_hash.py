"""Secrets verified with HMAC-SHA256 under the server's hashing keys: hashes of older
formats (argon2id, an older hashing key) still verify and are upgraded on their next
successful use; an unknown key id costs and answers what a wrong secret does."""

from __future__ import annotations

import hmac
from unittest import mock

import pytest
from argon2 import PasswordHasher
from django.db import OperationalError
from django.db.models import QuerySet
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from accounts.models import Agent
from apikeys import crypto, keyformat, records
from apikeys.models import ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db
ME = "/v1/open/keys/me"
CURRENT = "tests-only-apikey-hashing-key-0123456789abcdef"
NEXT = "the-next-hashing-key-after-a-rotation-0123456789"


def get_me(client: Client, key: str, **extra: str):
    return client.get(ME, headers={"x-api-key": key}, **extra)


def secret_of(full_key: str) -> str:
    return keyformat.parse_full_key(full_key).secret


def stored(key: ApiKey) -> str:
    key.refresh_from_db()
    return key.secret_hash


def test_a_new_secret_is_stored_as_a_versioned_keyed_hash(agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    scheme, fingerprint, digest = key.secret_hash.split("$")
    assert scheme == "hmac-sha256"
    assert fingerprint == crypto.fingerprint(CURRENT)
    assert len(digest) == 64 and secret_of(full) not in key.secret_hash


def test_verifying_runs_no_password_hash(client: Client, agent_a: Agent) -> None:
    _, full = make_key(agent_a)
    with mock.patch("apikeys.crypto._argon2_matches") as argon2:
        assert get_me(client, full).status_code == 200
    argon2.assert_not_called()


def test_an_argon2id_hash_from_before_still_verifies_and_is_upgraded(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a)
    legacy = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(secret_of(full))
    ApiKey.objects.filter(pk=key.pk).update(secret_hash=legacy)

    assert get_me(client, full).status_code == 200

    assert stored(key).startswith(crypto.current_prefix())
    with mock.patch("apikeys.crypto._argon2_matches") as argon2:
        assert get_me(client, full).status_code == 200
    argon2.assert_not_called()


def test_a_wrong_secret_on_an_argon2id_hash_is_refused_and_changes_nothing(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a)
    legacy = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(secret_of(full))
    ApiKey.objects.filter(pk=key.pk).update(secret_hash=legacy)

    forged = keyformat.compose(key.key_id, keyformat.new_secret())
    assert get_me(client, forged).status_code == 401
    assert stored(key) == legacy


def test_a_hash_under_an_older_hashing_key_verifies_and_is_upgraded(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a)
    old_hash = key.secret_hash
    with override_settings(APIKEY_HASH_KEYS=[NEXT, CURRENT]):
        assert get_me(client, full).status_code == 200
        upgraded = stored(key)
        assert upgraded != old_hash and upgraded.startswith(crypto.current_prefix())
        assert crypto.hash_state(upgraded) == "current"
    # Only the new hashing key is needed from now on.
    with override_settings(APIKEY_HASH_KEYS=[NEXT]):
        assert get_me(client, full).status_code == 200


def test_a_hash_under_a_dropped_hashing_key_no_longer_verifies(
    client: Client, agent_a: Agent
) -> None:
    _, full = make_key(agent_a)
    with override_settings(APIKEY_HASH_KEYS=[NEXT]):
        response = get_me(client, full)
    assert response.status_code == 401


def test_the_previous_secret_in_its_grace_is_upgraded_in_its_own_column(
    client: Client, agent_a: Agent
) -> None:
    from apikeys.models import GRACE_PERIODS

    key, old = make_key(agent_a)
    legacy = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(secret_of(old))
    ApiKey.objects.filter(pk=key.pk).update(secret_hash=legacy)
    key.refresh_from_db()
    new = key.rotate(GRACE_PERIODS["1h"])
    assert key.previous_secret_hash == legacy

    assert get_me(client, old).status_code == 200
    key.refresh_from_db()
    assert key.previous_secret_hash.startswith(crypto.current_prefix())
    assert get_me(client, new).status_code == 200
    assert get_me(client, old).status_code == 200


def test_a_hash_copied_onto_another_key_verifies_nothing(client: Client, agent_a: Agent) -> None:
    first, first_full = make_key(agent_a)
    second, _ = make_key(agent_a)
    ApiKey.objects.filter(pk=second.pk).update(secret_hash=first.secret_hash)
    # The second key's id with the first key's secret: the digest covers the key id.
    borrowed = keyformat.compose(second.key_id, secret_of(first_full))
    assert get_me(client, borrowed).status_code == 401


def test_an_unknown_key_id_answers_exactly_like_a_wrong_secret(
    client: Client, agent_a: Agent
) -> None:
    key, _ = make_key(agent_a)
    wrong_secret = get_me(client, keyformat.compose(key.key_id, keyformat.new_secret()))
    unknown_id = get_me(client, keyformat.compose(keyformat.new_key_id(), keyformat.new_secret()))

    assert wrong_secret.status_code == unknown_id.status_code == 401
    assert wrong_secret.json() == unknown_id.json()
    headers = ("WWW-Authenticate", "Content-Type", "Retry-After", "X-RateLimit-Limit")
    assert [wrong_secret.get(h) for h in headers] == [unknown_id.get(h) for h in headers]


def test_an_unknown_key_id_does_the_work_of_a_wrong_secret(client: Client, agent_a: Agent) -> None:
    from django.db import connection

    key, _ = make_key(agent_a)
    work = {}
    for label, key_id in (("wrong secret", key.key_id), ("unknown id", keyformat.new_key_id())):
        with (
            mock.patch(
                "apikeys.crypto.hmac.compare_digest", wraps=crypto.hmac.compare_digest
            ) as compare,
            mock.patch("apikeys.crypto._digest", wraps=crypto._digest) as digest,
            CaptureQueriesContext(connection) as queries,
        ):
            assert (
                get_me(client, keyformat.compose(key_id, keyformat.new_secret())).status_code == 401
            )
        work[label] = (digest.call_count, compare.call_count, len(queries))
    assert work["wrong secret"] == work["unknown id"] == (1, 1, work["unknown id"][2])


def test_the_dummy_hash_matches_no_secret() -> None:
    assert not crypto.check_secret(crypto.dummy_hash(), "x" * 16, "0" * 32).matches
    assert crypto.hash_state(crypto.dummy_hash()) == "current"


@pytest.mark.parametrize(
    "stored_hash", ["", "garbage", "hmac-sha256$00000000$" + "0" * 64, "$argon2id$bad"]
)
def test_malformed_stored_hashes_verify_nothing(stored_hash: str) -> None:
    assert not crypto.check_secret(stored_hash, "x" * 16, "y" * 32).matches


def test_the_key_lookup_runs_one_precompiled_statement(client: Client, agent_a: Agent) -> None:
    from apikeys import lookup

    _, full = make_key(agent_a)
    assert get_me(client, full).status_code == 200  # first use records last-used
    with (
        mock.patch("django.db.models.sql.compiler.SQLCompiler.as_sql", autospec=True) as compile_,
        mock.patch("apikeys.lookup._fetch_row", wraps=lookup._fetch_row) as fetch,
    ):
        assert get_me(client, full).status_code == 200
    compile_.assert_not_called()  # no queryset was built or compiled on the way
    assert fetch.call_count == 1
    assert (
        fetch.call_args.args[1] == lookup.statement("default", fetch.call_args.args[0].vendor).sql
    )


@pytest.mark.postgres
def test_postgresql_prepares_the_lookup_once_per_connection(client: Client, agent_a: Agent) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    _, full = make_key(agent_a)
    for _ in range(3):
        assert get_me(client, full).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%apikeys_apikey%key_id%"],
        )
        assert cursor.fetchone()[0] == 1


def test_behind_pgbouncer_transaction_pooling_the_lookup_is_not_prepared(
    client: Client, agent_a: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import connection

    _, full = make_key(agent_a)
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    with (
        mock.patch("apikeys.lookup._fetch_prepared") as prepared,
        CaptureQueriesContext(connection) as queries,
    ):
        assert get_me(client, full).status_code == 200
    prepared.assert_not_called()
    assert any("apikeys_apikey" in q["sql"] for q in queries)


def test_the_pgbouncer_setting_turns_server_side_cursors_off() -> None:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default'].get('DISABLE_SERVER_SIDE_CURSORS')))"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "a2v2.settings", "DEBUG": "true", "PATH": "/usr/bin:/bin",
        "DATABASE_URL": "postgres://u@127.0.0.1:5432/x", "PGBOUNCER_TRANSACTION_POOLING": "true",
    }  # fmt: skip
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "true"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_kept_connection_that_died_is_replaced_without_failing_the_request(
    client: Client, agent_a: Agent
) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    _, full = make_key(agent_a)
    assert get_me(client, full).status_code == 200
    connection.connection.close()  # as a server restart or a dropped socket would
    records.clear()  # with Redis the process keeps the row: make it read again
    assert get_me(client, full).status_code == 200


def test_a_failed_hash_upgrade_still_serves_the_verified_call(
    client: Client, agent_a: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    key, full = make_key(agent_a)
    legacy = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(secret_of(full))
    ApiKey.objects.filter(pk=key.pk).update(secret_hash=legacy)

    with mock.patch.object(
        QuerySet, "update", autospec=True, side_effect=OperationalError("database is locked")
    ):
        assert get_me(client, full).status_code == 200

    assert "Could not upgrade the hash" in caplog.text
    assert stored(key) == legacy  # upgraded on a later use instead
    assert get_me(client, full).status_code == 200
    assert stored(key).startswith(crypto.current_prefix())


@pytest.mark.parametrize("length", [1, 32, 64, 65, 200])
def test_the_precomputed_hmac_is_hmac_sha256(length: int) -> None:
    """HashingKey.hmac_sha256 feeds SHA-256 the key's pads once; it must equal the
    standard library's HMAC for any key length (longer than a block: hashed first)."""
    key = crypto.HashingKey("test", bytes(range(256))[:length])
    for message in (b"", b"key-id:secret", bytes(300)):
        assert key.hmac_sha256(message) == hmac.digest(key.material, message, "sha256")
