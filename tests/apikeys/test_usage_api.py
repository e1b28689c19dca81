"""`GET /v1/open/keys/me/usage` walks the access matrix: any valid key may read its own usage
(no permission needed, like /keys/me), and only its own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Agent
from apikeys import keyformat, usage
from tests.factories import all_permissions, make_key

pytestmark = pytest.mark.django_db
USAGE = "/v1/open/keys/me/usage"


def refused(response, status: int) -> None:
    assert response.status_code == status, response.content[:200]
    assert response.json()["success"] is False and response.json()["message"]


def test_usage_endpoint_access_matrix(client: Client, agent_a: Agent, agent_b: Agent) -> None:
    def call(key: str | None = None, **extra: str):
        return client.get(USAGE, headers={"x-api-key": key} if key else {}, **extra)

    refused(call(), 401)
    key, good = make_key(agent_a)
    refused(call(good[:-1] + ("0" if good[-1] != "0" else "1")), 401)
    refused(call(keyformat.compose(key.key_id, keyformat.new_secret())), 401)
    deleted, deleted_full = make_key(agent_a)
    deleted.delete()
    refused(call(deleted_full), 401)
    _, expired = make_key(agent_a, expires_at=timezone.now() - timedelta(seconds=1))
    refused(call(expired), 401)
    _, fenced = make_key(agent_a, ip_allowlist="203.0.113.7")
    refused(call(fenced, REMOTE_ADDR="198.51.100.1"), 403)
    _, limited = make_key(agent_a, rate_limit_per_minute=1)
    call(limited)
    refused(call(limited), 429)

    # No permission needed: a key with none, and keys of any agent, read their own usage.
    assert call(good).status_code == 200
    _, everything = make_key(agent_b, *all_permissions())
    assert call(everything).json()["data"]["served"] == 0


def test_a_key_sees_only_its_own_usage(client: Client, agent_a: Agent) -> None:
    mine, mine_full = make_key(agent_a)
    _, other_full = make_key(agent_a)
    for _ in range(3):
        client.get("/v1/open/keys/me", headers={"x-api-key": other_full})
    client.get("/v1/open/keys/me", headers={"x-api-key": mine_full})
    usage.flush()
    data = client.get(USAGE, headers={"x-api-key": mine_full}).json()["data"]
    assert data["keyId"] == mine.key_id and data["served"] == 1


def test_the_usage_endpoint_is_in_the_openapi_document(client: Client) -> None:
    document = client.get("/v1/open/openapi.json").json()
    operation = document["paths"][USAGE]["get"]
    assert operation["summary"] == "The calling key's usage"
    assert any(p["name"] == "range" for p in operation["parameters"])
