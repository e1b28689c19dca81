"""A key-encryption key that cannot open the stored copies is a configuration error: the UI
and the CLI say so (not "shown once"), it is logged, and `check --deploy` reports a2v2.E006."""

from __future__ import annotations

import logging

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import Agent, User
from apikeys.models import ApiKey
from tests.conftest import client_for
from tests.factories import make_key

pytestmark = pytest.mark.django_db

WRONG_KEK = override_settings(KEY_ENCRYPTION_KEYS=["a-different-key-encryption-key"])


@pytest.fixture
def key(agent_a: Agent) -> ApiKey:
    return make_key(agent_a, "contacts_read", name="Zapier")[0]


def reveal_url(key: ApiKey) -> str:
    return reverse("api-key-reveal", args=[key.agent.public_id, key.key_id])


@WRONG_KEK
def test_copy_api_key_says_the_configuration_is_wrong_and_logs_it(
    owner: User, key: ApiKey, caplog
) -> None:
    caplog.set_level(logging.ERROR, logger="apikeys.models")
    response = client_for(owner).post(reveal_url(key), headers={"Accept": "application/json"})

    assert response.status_code == 500
    error = response.json()["error"]
    assert "KEY_ENCRYPTION_KEYS" in error and "configuration is wrong" in error
    assert "shown once" not in error.lower()
    assert any(
        key.key_id in r.getMessage() and "a2v2.E006" in r.getMessage() for r in caplog.records
    )


@WRONG_KEK
def test_copy_api_key_without_javascript_shows_the_same_message(owner: User, key: ApiKey) -> None:
    client: Client = client_for(owner)
    response = client.post(reveal_url(key))
    assert response.status_code == 302
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("KEY_ENCRYPTION_KEYS" in m for m in shown)


@WRONG_KEK
def test_cli_reveal_says_the_configuration_is_wrong(key: ApiKey) -> None:
    with pytest.raises(CommandError, match="KEY_ENCRYPTION_KEYS") as raised:
        call_command("apikey", "show", key.key_id, "--reveal")
    assert "show-once" not in str(raised.value)


def test_check_deploy_is_quiet_when_the_stored_keys_decrypt(key: ApiKey) -> None:
    from apikeys.checks import check_stored_keys_decrypt

    assert check_stored_keys_decrypt() == []


@WRONG_KEK
def test_check_deploy_reports_keys_it_cannot_decrypt_as_e006(key: ApiKey) -> None:
    with pytest.raises(SystemCheckError, match=r"a2v2\.E006") as raised:
        call_command("check", "--deploy", "--fail-level", "ERROR")
    assert key.key_id in str(raised.value)


@override_settings(KEY_ENCRYPTION_KEYS=["new-key-encryption-key", "tests-only-key-encryption-key"])
def test_an_old_key_encryption_key_kept_after_the_new_one_still_decrypts(key: ApiKey) -> None:
    from apikeys.checks import check_stored_keys_decrypt

    assert check_stored_keys_decrypt() == []
    assert key.reveal().startswith("a2v2_")
