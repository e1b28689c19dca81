"""The access matrix every Open API endpoint must walk, in one place.

    walk_access_matrix(client, "get", url, needs="contacts_read", agent=agent_a,
                       other_agent=..., other_org_agent=agent_b)

asserts: no key 401, malformed 401, wrong secret 401, deleted key 401, expired key 401,
a key of another agent of the same organization 404, a key of another organization 404,
a key without the permission 403, a client IP outside the allowlist 403, and the
per-key rate limit 429. Each refusal is the JSON error envelope.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from accounts.models import Agent
from apikeys import keyformat
from tests.factories import all_permissions, make_key


def _refused(response: Any, status: int, case: str) -> None:
    assert response.status_code == status, (
        f"{case}: {response.status_code} {response.content[:200]!r}"
    )
    body = response.json()
    assert body["success"] is False, case
    assert isinstance(body["message"], str) and body["message"], case


def walk_access_matrix(
    client: Client,
    method: str,
    url: str | Callable[[], str],
    *,
    needs: str,
    agent: Agent,
    other_agent: Agent,
    other_org_agent: Agent,
    **request: Any,
) -> None:
    def call(key: str | None = None, **extra: Any) -> Any:
        headers = {"x-api-key": key} if key else {}
        target = url() if callable(url) else url
        return getattr(client, method)(target, headers=headers, **request, **extra)

    _refused(call(), 401, "no key")
    _, good = make_key(agent, needs)
    _refused(call(good[:-1] + ("0" if good[-1] != "0" else "1")), 401, "malformed key")
    key, good = make_key(agent, needs)
    _refused(call(keyformat.compose(key.key_id, keyformat.new_secret())), 401, "wrong secret")

    deleted, deleted_full = make_key(agent, needs)
    deleted.delete()
    _refused(call(deleted_full), 401, "deleted key")

    _, expired = make_key(agent, needs, expires_at=timezone.now() - timedelta(seconds=1))
    _refused(call(expired), 401, "expired key")

    _, sibling = make_key(other_agent, *all_permissions())
    _refused(call(sibling), 404, "key of another agent")
    _, stranger = make_key(other_org_agent, *all_permissions())
    _refused(call(stranger), 404, "key of another organization")

    others = [p for p in all_permissions() if p != needs]
    _, lacking = make_key(agent, *others)
    _refused(call(lacking), 403, "missing permission")

    _, fenced = make_key(agent, needs, ip_allowlist="203.0.113.7")
    _refused(call(fenced, REMOTE_ADDR="198.51.100.1"), 403, "IP not allowed")

    _, limited = make_key(agent, needs, rate_limit_per_minute=1)
    call(limited)
    limited_response = call(limited)
    _refused(limited_response, 429, "rate limited")
    assert int(limited_response["Retry-After"]) >= 1
