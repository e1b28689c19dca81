"""Helpers for the contacts tests: an API client that sends a key, and a few contacts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Agent
from apikeys.models import ApiKey
from contacts.models import Contact
from tests.factories import ContactFactory, make_key

CONTACT_PERMISSIONS = ["contacts_create", "contacts_read", "contacts_update", "contacts_delete"]


def url(name: str, **kwargs: str) -> str:
    return reverse(f"open-api:{name}", kwargs=kwargs)


def list_url(agent: Agent) -> str:
    return url("create_contact", agent_id=agent.public_id)


def by_id(agent: Agent, contact: Contact) -> str:
    return url("get_contact_by_id", agent_id=agent.public_id, contact_id=contact.public_id)


def by_reference(agent: Agent, reference: str) -> str:
    return url("get_contact", agent_id=agent.public_id, external_reference_id=reference)


class Api:
    """A test client that sends one API key with every request."""

    def __init__(self, full_key: str | None, key: ApiKey | None = None) -> None:
        self.client = Client()
        self.key = key
        self.headers = {"X-API-Key": full_key} if full_key else {}

    def call(self, method: str, path: str, body: Any = None, **extra: Any) -> Any:
        headers = {**self.headers, **extra.pop("headers", {})}
        send = getattr(self.client, method)
        if method in ("post", "put", "patch") and body is not None and "files" not in extra:
            return send(
                path, json.dumps(body), content_type="application/json", headers=headers, **extra
            )
        if "files" in extra:
            return send(path, extra.pop("files"), headers=headers, **extra)
        return send(path, body, headers=headers, **extra) if body else send(path, headers=headers)

    def get(self, path: str, params: Any = None, **extra: Any) -> Any:
        return self.call("get", path, params, **extra)

    def post(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self.call("post", path, body, **extra)

    def put(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self.call("put", path, body, **extra)

    def patch(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self.call("patch", path, body, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self.call("delete", path, None, **extra)


def api_for(agent: Agent, *permissions: str, **fields: Any) -> Api:
    key, full_key = make_key(agent, *permissions, **fields)
    return Api(full_key, key)


@pytest.fixture
def api(agent_a: Agent) -> Api:
    """A key of agent A with every contact permission."""
    return api_for(agent_a, *CONTACT_PERMISSIONS, name="CRM sync")


@pytest.fixture
def jane(agent_a: Agent) -> Contact:
    return ContactFactory(
        agent=agent_a,
        name="Jane Doe",
        email="jane@example.com",
        mobile_number="+14155552671",
        external_reference_id="crm-1",
    )
