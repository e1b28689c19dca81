"""A key sent in a URL is refused, and — when it is a real key with its right secret — flagged
as exposed (audit event, "Exposed" on its row) until it is rotated. Never revoked by itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Agent, AuditEvent, AuditStatus
from apikeys import keyformat
from apikeys.models import ApiKey
from tests.conftest import client_for
from tests.factories import make_key

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["api_key", "apikey", "key", "X-API-Key", "token", "access_token"])
def test_a_real_key_in_the_query_string_is_refused_and_flagged_as_exposed(
    client: Client, agent_a: Agent, name: str
) -> None:
    key, full = make_key(agent_a, "contacts_read")
    response = client.get("/v1/open/keys/me", {name: full})
    assert response.status_code == 400
    key.refresh_from_db()
    assert key.exposed_at is not None
    event = AuditEvent.objects.get(status=AuditStatus.FAILURE)
    assert "sent in a URL" in event.description and "Rotate it" in event.description
    # Not revoked: the integration keeps working until the owner rotates the key.
    assert client.get("/v1/open/keys/me", headers={"x-api-key": full}).status_code == 200


def test_the_two_header_form_in_the_query_string_is_flagged_too(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a)
    secret = full.split("_")[2][: keyformat.SECRET_LENGTH]
    response = client.get("/v1/open/keys/me", {"api_key": key.key_id, "api_secret": secret})
    assert response.status_code == 400
    key.refresh_from_db()
    assert key.exposed_at is not None


def test_a_wrong_secret_in_the_url_flags_nothing(client: Client, agent_a: Agent) -> None:
    key, _ = make_key(agent_a)
    wrong = keyformat.compose(key.key_id, keyformat.new_secret())
    assert client.get("/v1/open/keys/me", {"api_key": wrong}).status_code == 400
    key.refresh_from_db()
    assert key.exposed_at is None
    assert not AuditEvent.objects.exists()


def test_repeated_exposure_is_audited_once_until_rotated(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    for _ in range(3):
        client.get("/v1/open/keys/me", {"api_key": full})
    assert AuditEvent.objects.filter(status=AuditStatus.FAILURE).count() == 1
    new_full = key.rotate(timedelta(0))
    key.refresh_from_db()
    assert key.exposed_at is None
    client.get("/v1/open/keys/me", {"api_key": new_full})
    assert AuditEvent.objects.filter(status=AuditStatus.FAILURE).count() == 2


def test_the_keys_list_shows_an_exposed_key_and_asks_for_a_rotation(owner, agent_a: Agent) -> None:  # type: ignore[no-untyped-def]
    key, full = make_key(agent_a, name="Leaked in a URL")
    Client().get("/v1/open/keys/me", {"api_key": full})
    page = client_for(owner).get(reverse("apikeys:api-permissions", args=[agent_a.public_id]))
    html = page.content.decode()
    assert "Exposed" in html
    assert "was sent in a URL" in html and "rotate it" in html
    ApiKey.objects.filter(pk=key.pk).update(exposed_at=None)
    html = client_for(owner).get(reverse("apikeys:api-permissions", args=[agent_a.public_id]))
    assert "Exposed" not in html.content.decode()


def test_a_real_key_under_any_other_parameter_is_refused_and_flagged(
    client: Client, agent_a: Agent
) -> None:
    """Pasted into a search box or a made-up parameter, with the header sent as well."""
    key, full = make_key(agent_a, "contacts_read")
    url = f"/v1/open/contacts/chatbots/{agent_a.public_id}"
    response = client.get(url, {"search": full}, headers={"x-api-key": full})
    assert response.status_code == 400
    assert "not accepted in the URL" in response.json()["message"]
    key.refresh_from_db()
    assert key.exposed_at is not None


def test_a_query_that_only_mentions_the_prefix_is_served(client: Client, agent_a: Agent) -> None:
    _, full = make_key(agent_a, "contacts_read")
    url = f"/v1/open/contacts/chatbots/{agent_a.public_id}"
    response = client.get(url, {"search": "a2v2_notes"}, headers={"x-api-key": full})
    assert response.status_code == 200
