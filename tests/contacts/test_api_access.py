"""Every contacts endpoint walks the access matrix: no key, a bad key, a key of another
agent or organization, each single permission, the IP allowlist and the rate limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import Agent
from apikeys import keyformat
from contacts.models import Contact, ContactFile
from tests.contacts.conftest import Api, api_for, url
from tests.factories import AgentFactory, ContactFactory, all_permissions, make_key

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    url_name: str
    permission: str
    success: int = 200
    by: str = ""  # "id", "reference" or "file": what the path names besides the agent
    body: Any = None
    upload: bool = False

    def path(self, agent: Agent, contact: Contact, stored: ContactFile) -> str:
        kwargs = {"agent_id": agent.public_id}
        if self.by in ("id", "file"):
            kwargs["contact_id"] = contact.public_id
        if self.by == "reference":
            kwargs["external_reference_id"] = contact.external_reference_id
        if self.by == "file":
            kwargs["file_id"] = stored.public_id
        return url(self.url_name, **kwargs)

    def call(self, api: Api, agent: Agent, contact: Contact, stored: ContactFile) -> Any:
        path = self.path(agent, contact, stored)
        if self.upload:
            upload = SimpleUploadedFile("note.txt", b"hello", content_type="text/plain")
            return api.post(path, files={"file": upload})
        return api.call(self.method, path, self.body)


NEW_CONTACT = {"name": "Ann", "email": "ann@example.com"}
ENDPOINTS = [
    Endpoint("schema", "get", "contact_schema", "contacts_read"),
    Endpoint("create", "post", "create_contact", "contacts_create", 201, body=NEW_CONTACT),
    Endpoint("list", "get", "create_contact", "contacts_read"),
    Endpoint("get by id", "get", "get_contact_by_id", "contacts_read", by="id"),
    Endpoint("put by id", "put", "get_contact_by_id", "contacts_update", by="id", body=NEW_CONTACT),
    Endpoint("archive by id", "patch", "archive_contact_by_id", "contacts_update", by="id"),
    Endpoint("delete by id", "delete", "get_contact_by_id", "contacts_delete", by="id"),
    Endpoint("get by reference", "get", "get_contact", "contacts_read", by="reference"),
    Endpoint(
        "put by reference",
        "put",
        "get_contact",
        "contacts_update",
        by="reference",
        body=NEW_CONTACT,
    ),
    Endpoint("archive by reference", "patch", "archive_contact", "contacts_update", by="reference"),
    Endpoint("delete by reference", "delete", "get_contact", "contacts_delete", by="reference"),
    Endpoint(
        "upload file",
        "post",
        "upload_contact_file",
        "contacts_create",
        201,
        by="id",
        upload=True,
    ),
    Endpoint("list files", "get", "upload_contact_file", "contacts_read", by="id"),
    Endpoint("download file", "get", "download_contact_file", "contacts_read", by="file"),
    Endpoint("delete file", "delete", "download_contact_file", "contacts_delete", by="file"),
]
IDS = [e.name for e in ENDPOINTS]
NAMING_A_CONTACT = [e for e in ENDPOINTS if e.by]


@pytest.fixture
def contact(agent_a: Agent) -> Contact:
    return ContactFactory(agent=agent_a, external_reference_id="crm-42")


@pytest.fixture
def stored(contact: Contact) -> ContactFile:
    stored = ContactFile(
        contact=contact, original_name="a.txt", size=3, content_type="text/plain", sha256="0"
    )
    stored.file.save(f"{stored.public_id}.txt", SimpleUploadedFile("a.txt", b"abc"), save=False)
    stored.save()
    return stored


def refused(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    return body


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_without_a_key_is_401_naming_the_header(endpoint, agent_a, contact, stored) -> None:
    body = refused(endpoint.call(Api(None), agent_a, contact, stored), 401)
    assert "x-api-key" in body["message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_malformed_key_is_401(endpoint, agent_a, contact, stored) -> None:
    refused(endpoint.call(Api("a2v2_not-a-key"), agent_a, contact, stored), 401)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_wrong_secret_is_401(endpoint, agent_a, contact, stored) -> None:
    key, _ = make_key(agent_a, *all_permissions())
    forged = keyformat.compose(key.key_id, keyformat.new_secret())
    refused(endpoint.call(Api(forged), agent_a, contact, stored), 401)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_deleted_key_is_401(endpoint, agent_a, contact, stored) -> None:
    api = api_for(agent_a, *all_permissions())
    api.key.delete()
    refused(endpoint.call(api, agent_a, contact, stored), 401)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_an_expired_key_is_401(endpoint, agent_a, contact, stored) -> None:
    api = api_for(agent_a, *all_permissions(), expires_at=timezone.now() + timedelta(hours=1))
    type(api.key).objects.filter(pk=api.key.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    body = refused(endpoint.call(api, agent_a, contact, stored), 401)
    assert "expired" in body["message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_key_of_another_agent_in_the_organization_is_404(
    endpoint, agent_a, contact, stored
) -> None:
    sibling = AgentFactory(organization=agent_a.organization)
    api = api_for(sibling, *all_permissions())
    refused(endpoint.call(api, agent_a, contact, stored), 404)
    assert Contact.objects.filter(pk=contact.pk).exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_key_of_another_organization_is_404(endpoint, agent_a, agent_b, contact, stored) -> None:
    api = api_for(agent_b, *all_permissions())
    refused(endpoint.call(api, agent_a, contact, stored), 404)
    assert Contact.objects.filter(pk=contact.pk).exists()


@pytest.mark.parametrize("endpoint", NAMING_A_CONTACT, ids=[e.name for e in NAMING_A_CONTACT])
def test_another_agents_contact_through_its_own_path_is_404(
    endpoint, agent_a, agent_b, contact, stored
) -> None:
    api = api_for(agent_b, *all_permissions())
    refused(endpoint.call(api, agent_b, contact, stored), 404)
    assert Contact.objects.filter(pk=contact.pk, archived=False).exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_every_permission_but_the_needed_one_is_403(endpoint, agent_a, contact, stored) -> None:
    others = [p for p in all_permissions() if p != endpoint.permission]
    body = refused(endpoint.call(api_for(agent_a, *others), agent_a, contact, stored), 403)
    assert "Contact Access" in body["message"]


@pytest.mark.parametrize("permission", all_permissions())
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_each_single_permission(endpoint, permission, agent_a, contact, stored) -> None:
    response = endpoint.call(api_for(agent_a, permission), agent_a, contact, stored)
    if permission == endpoint.permission:
        assert response.status_code == endpoint.success, response.content
    else:
        refused(response, 403)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_request_from_outside_the_allowlist_is_403(endpoint, agent_a, contact, stored) -> None:
    api = api_for(agent_a, *all_permissions(), ip_allowlist="10.1.2.3")
    body = refused(endpoint.call(api, agent_a, contact, stored), 403)
    assert "IP address" in body["message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_over_the_rate_limit_is_429(endpoint, agent_a, contact, stored) -> None:
    api = api_for(agent_a, *all_permissions(), rate_limit_per_minute=1)
    api.get(url("contact_schema", agent_id=agent_a.public_id))
    response = endpoint.call(api, agent_a, contact, stored)
    refused(response, 429)
    assert int(response["Retry-After"]) >= 1
