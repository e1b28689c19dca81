"""The access matrix of the key middleware, walked on GET /v1/open/keys/me."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import Agent
from apikeys import keyformat
from apikeys.models import ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db
ME = "/v1/open/keys/me"


def get_me(client: Client, **headers: str):
    return client.get(ME, headers=headers)


def test_a_valid_key_in_x_api_key_is_let_in(client: Client, agent_a: Agent) -> None:
    _, full = make_key(agent_a, "contacts_read", "documents_create", name="Zapier")

    response = get_me(client, x_api_key=full)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["name"] == "Zapier"
    assert body["data"]["agent"]["id"] == agent_a.public_id
    assert body["data"]["permissions"] == {"contacts": ["read"], "documents": ["create"]}
    assert body["data"]["rateLimits"] == {"perMinute": 60, "perHour": 1000}


def test_bearer_and_the_two_header_form_work_too(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    secret = keyformat.parse_full_key(full).secret

    assert get_me(client, authorization=f"Bearer {full}").status_code == 200
    assert get_me(client, x_api_key=key.key_id, x_api_secret=secret).status_code == 200
    assert get_me(client, x_api_key=f"a2v2_{key.key_id}", x_api_secret=secret).status_code == 200


def test_no_key_names_both_headers(client: Client) -> None:
    response = get_me(client)
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False
    assert "x-api-key" in body["message"] and "x-api-secret" in body["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_malformed_key_is_refused_without_looking_up_keys(client: Client, agent_a: Agent) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _, full = make_key(agent_a)
    with CaptureQueriesContext(connection) as queries:
        response = get_me(client, x_api_key=full[:-1] + ("0" if full[-1] != "0" else "1"))
    assert not [q for q in queries if "apikeys_apikey" in q["sql"]]
    assert response.status_code == 401
    assert "malformed" in response.json()["message"]


def test_a_wrong_secret_is_refused(client: Client, agent_a: Agent) -> None:
    key, _ = make_key(agent_a)
    forged = keyformat.compose(key.key_id, keyformat.new_secret())
    response = get_me(client, x_api_key=forged)
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid API key."


def test_an_unknown_key_is_refused(client: Client) -> None:
    unknown = keyformat.compose(keyformat.new_key_id(), keyformat.new_secret())
    assert get_me(client, x_api_key=unknown).status_code == 401


def test_a_key_in_the_query_string_is_refused(client: Client, agent_a: Agent) -> None:
    _, full = make_key(agent_a)
    response = client.get(ME, {"api_key": full})
    assert response.status_code == 400
    assert "URL" in response.json()["message"]


def test_a_deleted_key_is_refused_on_the_next_request(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    assert get_me(client, x_api_key=full).status_code == 200

    key.delete()

    assert get_me(client, x_api_key=full).status_code == 401


def test_an_expired_key_is_refused(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a, expires_at=timezone.now() + timedelta(hours=1))
    assert get_me(client, x_api_key=full).status_code == 200

    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = get_me(client, x_api_key=full)
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_ip_allowlist_is_enforced_on_the_next_request(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a, ip_allowlist="203.0.113.0/24, 2001:db8::1")
    assert (
        client.get(ME, headers={"x-api-key": full}, REMOTE_ADDR="203.0.113.50").status_code == 200
    )
    assert client.get(ME, headers={"x-api-key": full}, REMOTE_ADDR="2001:db8::1").status_code == 200

    refused = client.get(ME, headers={"x-api-key": full}, REMOTE_ADDR="198.51.100.1")
    assert refused.status_code == 403
    assert "IP address" in refused.json()["message"]

    ApiKey.objects.filter(pk=key.pk).update(ip_allowlist="198.51.100.1")
    assert (
        client.get(ME, headers={"x-api-key": full}, REMOTE_ADDR="203.0.113.50").status_code == 403
    )


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_allowlist_uses_the_forwarded_client_only_behind_a_trusted_proxy(
    client: Client, agent_a: Agent
) -> None:
    _, full = make_key(agent_a, ip_allowlist="198.51.100.7")
    headers = {"x-api-key": full, "x-forwarded-for": "198.51.100.7"}
    assert client.get(ME, headers=headers, REMOTE_ADDR="10.0.0.2").status_code == 200
    # The same header from an untrusted peer changes nothing.
    assert client.get(ME, headers=headers, REMOTE_ADDR="203.0.113.9").status_code == 403


@override_settings(APIKEY_FAILURES_PER_CLIENT=5)
def test_random_keys_from_one_client_are_throttled(client: Client) -> None:
    statuses = [
        get_me(
            client, x_api_key=keyformat.compose(keyformat.new_key_id(), keyformat.new_secret())
        ).status_code
        for _ in range(8)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 3


def test_rate_limit_per_minute_answers_429_with_headers(client: Client, agent_a: Agent) -> None:
    _, full = make_key(agent_a, rate_limit_per_minute=3)
    responses = [get_me(client, x_api_key=full) for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[0]["X-RateLimit-Limit"] == "3"
    assert responses[0]["X-RateLimit-Remaining"] == "2"
    limited = responses[-1]
    assert int(limited["Retry-After"]) >= 1
    assert limited["X-RateLimit-Remaining"] == "0"
    assert limited.json()["success"] is False


def test_rate_limit_per_hour_applies_too(client: Client, agent_a: Agent) -> None:
    _, full = make_key(agent_a, rate_limit_per_minute=2, rate_limit_per_hour=3)
    with freeze_time("2030-01-01 10:00:05") as clock:
        first_minute = [get_me(client, x_api_key=full).status_code for _ in range(2)]
        clock.tick(60)
        next_minute = [get_me(client, x_api_key=full).status_code for _ in range(2)]
    assert first_minute == [200, 200]
    assert next_minute == [200, 429]  # room left this minute, none this hour


def test_rate_limits_are_per_key(client: Client, agent_a: Agent) -> None:
    _, first = make_key(agent_a, rate_limit_per_minute=1)
    _, second = make_key(agent_a, rate_limit_per_minute=1)
    assert get_me(client, x_api_key=first).status_code == 200
    assert get_me(client, x_api_key=first).status_code == 429
    assert get_me(client, x_api_key=second).status_code == 200


def test_last_used_is_written_at_most_once_a_minute(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    get_me(client, x_api_key=full)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None and key.last_used_ip == "127.0.0.1"

    get_me(client, x_api_key=full)
    key.refresh_from_db()
    assert key.last_used_at == first

    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    get_me(client, x_api_key=full)
    key.refresh_from_db()
    assert key.last_used_at > first


def test_health_and_docs_need_no_key(client: Client) -> None:
    assert client.get("/v1/open/health").status_code == 200
    assert client.get("/v1/open/openapi.json").status_code == 200
    assert client.get("/v1/open/docs").status_code == 200
    assert client.get("/v1/open/no/such/path").status_code == 404


def test_openapi_documents_the_key_header(client: Client) -> None:
    schema = client.get("/v1/open/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("in") == "header" and s.get("name") == "X-API-Key" for s in schemes.values())
    assert "/v1/open/keys/me" in schema["paths"]
