from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import Agent
from apikeys.models import GRACE_PERIODS, ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db
ME = "/v1/open/keys/me"


def status(client: Client, key: str) -> int:
    return client.get(ME, headers={"x-api-key": key}).status_code


def test_rotation_keeps_settings_and_issues_a_new_secret(client: Client, agent_a: Agent) -> None:
    key, old = make_key(agent_a, "contacts_read", name="Sync", ip_allowlist="127.0.0.1")
    new = key.rotate(GRACE_PERIODS["none"])

    assert new != old and new.startswith(f"a2v2_{key.key_id}_")
    key.refresh_from_db()
    assert key.name == "Sync" and key.contacts_read and key.ip_allowlist == "127.0.0.1"
    assert key.reveal() == new
    assert status(client, new) == 200
    assert status(client, old) == 401


def test_old_secret_works_during_the_grace_period_then_stops(
    client: Client, agent_a: Agent
) -> None:
    key, old = make_key(agent_a)
    assert status(client, old) == 200  # in use before the rotation
    new = key.rotate(GRACE_PERIODS["1h"])

    assert status(client, old) == 200
    assert status(client, new) == 200
    with freeze_time(timezone.now() + timedelta(hours=1, seconds=1)):
        assert status(client, old) == 401
        assert status(client, new) == 200


def test_grace_never_outlives_the_keys_expiry(agent_a: Agent) -> None:
    expiry = timezone.now() + timedelta(hours=2)
    key, _ = make_key(agent_a, expires_at=expiry)
    key.rotate(GRACE_PERIODS["7d"])
    assert key.previous_secret_expires_at == expiry


def test_an_expired_key_cannot_be_rotated(agent_a: Agent) -> None:
    key, _ = make_key(agent_a)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="expired"):
        key.rotate(GRACE_PERIODS["1h"])


@override_settings(APIKEY_SHOW_ONCE=True)
def test_show_once_keeps_no_encrypted_copy(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    assert key.encrypted_key == ""
    assert key.reveal() is None and not key.can_reveal
    assert status(client, full) == 200


def test_the_secret_is_stored_only_as_a_keyed_hash_and_ciphertext(agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    secret = full.split("_")[2][:32]
    assert key.secret_hash.startswith("hmac-sha256$")
    assert secret not in key.secret_hash and secret not in key.encrypted_key
    assert full not in key.encrypted_key
