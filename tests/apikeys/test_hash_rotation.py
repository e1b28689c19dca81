"""The hashing keys: the system check, the debug default, and rotation with
`manage.py rotate_key_hashes` (argon2id hashes from before included)."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
from argon2 import PasswordHasher
from django.core.management import call_command
from django.test import override_settings

from accounts.models import Agent
from apikeys import crypto, keyformat
from apikeys.checks import check_api_key_settings
from apikeys.models import ApiKey
from tests.factories import make_key

CURRENT = "tests-only-apikey-hashing-key-0123456789abcdef"
NEXT = "the-next-hashing-key-after-a-rotation-0123456789"


def problems() -> list[str]:
    return [problem.id for problem in check_api_key_settings()]


@pytest.mark.parametrize(
    "keys",
    [[], ["too-short"], [CURRENT, "short"], [CURRENT, CURRENT]],
    ids=["missing", "short", "one short", "twice"],
)
def test_missing_or_malformed_hashing_keys_are_a2v2_e009(keys: list[str]) -> None:
    with override_settings(APIKEY_HASH_KEYS=keys, DEBUG=False):
        assert "a2v2.E009" in problems()


def test_well_formed_hashing_keys_pass_the_check() -> None:
    with override_settings(APIKEY_HASH_KEYS=[NEXT, CURRENT], DEBUG=False):
        assert "a2v2.E009" not in problems()


def settings_in_a_process(**env: str) -> list[str]:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.APIKEY_HASH_KEYS))"
    )
    base = {"DJANGO_SETTINGS_MODULE": "a2v2.settings", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=base | env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_debug_derives_a_hashing_key_from_the_secret_key() -> None:
    derived = settings_in_a_process(DEBUG="true", SECRET_KEY="dev-secret")
    assert len(derived) == 1 and len(derived[0]) == 64
    assert derived != settings_in_a_process(DEBUG="true", SECRET_KEY="another-dev-secret")
    assert settings_in_a_process(DEBUG="false", SECRET_KEY="s" * 50) == []
    assert settings_in_a_process(APIKEY_HASH_KEYS=f"{NEXT},{CURRENT}") == [NEXT, CURRENT]


def rotate(*args: str) -> dict:
    out = StringIO()
    call_command("rotate_key_hashes", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def argon2_hash(full_key: str) -> str:
    secret = keyformat.parse_full_key(full_key).secret
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(secret)


@pytest.mark.django_db
def test_rotating_the_hashing_key_rehashes_every_key_with_a_copy(agent_a: Agent) -> None:
    legacy, legacy_full = make_key(agent_a, name="from argon2 days")
    ApiKey.objects.filter(pk=legacy.pk).update(secret_hash=argon2_hash(legacy_full))
    older, older_full = make_key(agent_a, name="under the current key")
    with override_settings(APIKEY_SHOW_ONCE=True):
        shown_once, shown_once_full = make_key(agent_a, name="show-once")
    ApiKey.objects.filter(pk=shown_once.pk).update(secret_hash=argon2_hash(shown_once_full))

    with override_settings(APIKEY_HASH_KEYS=[NEXT, CURRENT]):
        before = rotate("--check")
        assert before["rehashed"] == 0
        assert before["secrets"] == {
            "current": 0, "older hashing key": 1, "argon2id": 2, "unknown": 0,
        }  # fmt: skip

        after = rotate()

        assert after["rehashed"] == 2
        assert after["notRehashed"] == [shown_once.key_id]  # no copy: upgraded on use
        assert after["secrets"] == {
            "current": 2, "older hashing key": 0, "argon2id": 1, "unknown": 0,
        }  # fmt: skip
    # The old hashing key can go: the re-hashed keys verify under the new one alone.
    with override_settings(APIKEY_HASH_KEYS=[NEXT]):
        for key, full in ((legacy, legacy_full), (older, older_full)):
            key.refresh_from_db()
            secret = keyformat.parse_full_key(full).secret
            assert crypto.check_secret(key.secret_hash, key.key_id, secret).matches


@pytest.mark.django_db
def test_the_report_names_hashes_no_configured_key_can_verify(agent_a: Agent) -> None:
    make_key(agent_a)
    with override_settings(APIKEY_HASH_KEYS=[NEXT]):
        out = StringIO()
        call_command("rotate_key_hashes", "--check", stdout=out)
    assert "unknown 1" in out.getvalue()
    assert "cannot be verified" in out.getvalue()


@pytest.mark.django_db
def test_a_copy_that_does_not_match_the_stored_hash_changes_nothing(agent_a: Agent) -> None:
    key, _ = make_key(agent_a)
    _, other_full = make_key(agent_a)
    from apikeys import crypto as keys_crypto

    ApiKey.objects.filter(pk=key.pk).update(
        encrypted_key=keys_crypto.encrypt_key(other_full),
        secret_hash=argon2_hash(keyformat.compose(key.key_id, keyformat.new_secret())),
    )
    stored = ApiKey.objects.get(pk=key.pk).secret_hash
    report = rotate()
    assert key.key_id in report["notRehashed"]
    assert ApiKey.objects.get(pk=key.pk).secret_hash == stored


def test_without_hashing_keys_the_command_says_so() -> None:
    from django.core.management.base import CommandError

    with override_settings(APIKEY_HASH_KEYS=[]), pytest.raises(CommandError, match="not set"):
        call_command("rotate_key_hashes", stdout=StringIO())
