from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Agent
from contacts.models import Contact
from extraction.models import Document
from tests.extraction.test_jobs import make_document
from tests.factories import AgentFactory, make_key

pytestmark = pytest.mark.django_db

CARD = {
    "pages": [
        {
            "number": 1,
            "text": "Ada Lovelace\nada@example.com\n+44 20 7946 0958",
            "width": None,
            "height": None,
            "method": "text-layer",
        }
    ],
    "fields": [
        {
            "name": "name",
            "value": "Ada Lovelace",
            "normalized": "Ada Lovelace",
            "confidence": 0.9,
            "source": None,
        },
        {
            "name": "email",
            "value": "ada@example.com",
            "normalized": "ada@example.com",
            "confidence": 0.99,
            "source": None,
        },
        {
            "name": "phone",
            "value": "+44 20 7946 0958",
            "normalized": "+442079460958",
            "confidence": 0.9,
            "source": None,
        },
    ],
    "entities": {"emails": [], "phones": []},
}


def succeeded(agent: Agent) -> Document:
    document = make_document(agent)
    document.claim("test-worker")
    document.succeed(CARD, "test-worker")
    return document


def url(agent: Agent, document: Document) -> str:
    return f"/v1/open/document-extraction/{document.public_id}/chatbots/{agent.public_id}/contact"


def test_a_contact_is_created_once_then_deduplicated(client: Client, agent_a: Agent) -> None:
    document = succeeded(agent_a)
    _, key = make_key(agent_a, "documents_read", "contacts_create")

    first = client.post(url(agent_a, document), headers={"x-api-key": key})
    second = client.post(url(agent_a, document), headers={"x-api-key": key})

    assert first.status_code == 201
    contact = first.json()["data"]["contact"]
    assert contact["email"] == "ada@example.com" and contact["mobileNumber"] == "+442079460958"
    assert contact["source"] == "extraction"
    assert second.status_code == 200 and second.json()["data"]["created"] is False
    assert Contact.objects.count() == 1


def test_contact_access_create_is_needed_too(client: Client, agent_a: Agent) -> None:
    document = succeeded(agent_a)
    _, key = make_key(agent_a, "documents_read", "documents_create")
    response = client.post(url(agent_a, document), headers={"x-api-key": key})
    assert response.status_code == 403
    assert "Contact Access: Create" in response.json()["message"]
    assert not Contact.objects.exists()


def test_an_unfinished_extraction_is_a_conflict(client: Client, agent_a: Agent) -> None:
    document = make_document(agent_a)
    _, key = make_key(agent_a, "documents_read", "contacts_create")
    assert client.post(url(agent_a, document), headers={"x-api-key": key}).status_code == 409


def test_another_agents_document_is_not_found(client: Client, agent_a: Agent) -> None:
    sibling = AgentFactory(organization=agent_a.organization)
    document = succeeded(agent_a)
    _, key = make_key(sibling, "documents_read", "contacts_create")
    assert client.post(url(sibling, document), headers={"x-api-key": key}).status_code == 404


def test_overrides_are_validated(client: Client, agent_a: Agent) -> None:
    document = succeeded(agent_a)
    _, key = make_key(agent_a, "documents_read", "contacts_create")
    response = client.post(
        url(agent_a, document),
        {"email": "not-an-email"},
        content_type="application/json",
        headers={"x-api-key": key},
    )
    assert response.status_code == 422
    assert "email" in response.json()["errors"]
