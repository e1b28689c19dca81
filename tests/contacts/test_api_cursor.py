"""Keyset (cursor) pagination of the contacts list, beside page numbers: every sort,
search and filter; stable while contacts come and go; damaged or foreign cursors refused
in the envelope; the access matrix."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Agent
from contacts.models import Contact
from tests.access_matrix import walk_access_matrix
from tests.contacts.conftest import Api, list_url
from tests.factories import AgentFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(agent_a: Agent) -> list[Contact]:
    base = timezone.now() - timedelta(days=30)
    contacts = []
    for n in range(23):
        contact = ContactFactory(
            agent=agent_a,
            name=f"Pat {n % 7:02}",  # names repeat: ties broken by id
            email=f"x{n % 3}@pat{n:02}.example.com",
            mobile_number=f"+1415555{n:04}",
            stage="Lead" if n % 2 else "Customer",
        )
        # Timestamps repeat too (three contacts a day).
        moment = base + timedelta(days=n // 3)
        Contact.objects.filter(pk=contact.pk).update(created_at=moment, updated_at=moment)
        contacts.append(contact)
    return contacts


def walk(api: Api, agent: Agent, limit: int, **params: Any) -> tuple[list[str], list[dict]]:
    """Follow nextCursor from the first page to the last; the ids and each pagination."""
    ids: list[str] = []
    paginations: list[dict] = []
    cursor = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = api.get(list_url(agent), query)
        assert response.status_code == 200, response.content
        body = response.json()
        ids += [c["id"] for c in body["data"]]
        paginations.append(body["pagination"])
        cursor = body["pagination"]["nextCursor"]
        if cursor is None:
            return ids, paginations
        assert len(paginations) < 50, "the cursor never ended"


ORDERS = [
    {},
    {"sort": "createdAt"},
    {"sort": "-updatedAt"},
    {"sort": "updatedAt"},
    {"search": "pat"},
    {"search": "x1@"},
    {"search": "+1415555"},
    {"search": "pat", "sort": "createdAt"},
    {"stage": "lead"},
    {"stage": "customer", "sort": "-updatedAt"},
    {"includeArchived": "true"},
]


@pytest.mark.parametrize("params", ORDERS, ids=[str(p) or "default" for p in ORDERS])
def test_cursor_pages_cover_the_list_once_in_its_order(
    api: Api, agent_a: Agent, people: list[Contact], params: dict
) -> None:
    one_page = api.get(list_url(agent_a), {**params, "limit": 100}).json()
    everyone = [c["id"] for c in one_page["data"]]
    assert everyone, params

    ids, paginations = walk(api, agent_a, limit=4, **params)

    assert ids == everyone
    total = one_page["pagination"]["total"]
    assert [p["page"] for p in paginations] == list(range(1, len(paginations) + 1))
    assert {(p["total"], p["totalPages"], p["limit"]) for p in paginations} == {
        (total, -(-total // 4), 4)
    }


def test_page_numbers_and_cursors_meet(api: Api, agent_a: Agent, people: list[Contact]) -> None:
    first = api.get(list_url(agent_a), {"limit": 5}).json()
    by_cursor = api.get(
        list_url(agent_a), {"limit": 5, "cursor": first["pagination"]["nextCursor"]}
    )
    by_number = api.get(list_url(agent_a), {"limit": 5, "page": 2})
    assert by_cursor.json()["data"] == by_number.json()["data"]
    assert by_cursor.json()["pagination"] == by_number.json()["pagination"]
    # A page in the second half (read backwards) hands out a cursor that continues it.
    deep = api.get(list_url(agent_a), {"limit": 5, "page": 4}).json()
    last = api.get(list_url(agent_a), {"limit": 5, "cursor": deep["pagination"]["nextCursor"]})
    assert last.json()["data"] == api.get(list_url(agent_a), {"limit": 5, "page": 5}).json()["data"]
    assert last.json()["pagination"]["nextCursor"] is None


def test_a_cursor_resumes_after_its_contact_while_contacts_come_and_go(
    api: Api, agent_a: Agent, people: list[Contact]
) -> None:
    before = [c["id"] for c in api.get(list_url(agent_a), {"limit": 100}).json()["data"]]
    first = api.get(list_url(agent_a), {"limit": 5}).json()
    assert [c["id"] for c in first["data"]] == before[:5]

    Contact.objects.get(public_id=before[1]).delete()  # one already served goes
    ContactFactory(agent=agent_a, name="Newcomer")  # a newer one arrives on page 1

    second = api.get(list_url(agent_a), {"limit": 5, "cursor": first["pagination"]["nextCursor"]})
    # Offsets would now repeat before[5]; the cursor continues exactly after before[4].
    assert [c["id"] for c in second.json()["data"]] == before[5:10]


def test_the_last_page_has_no_next_cursor(api: Api, agent_a: Agent, people: list[Contact]) -> None:
    everything = api.get(list_url(agent_a), {"limit": 100}).json()
    assert everything["pagination"]["nextCursor"] is None
    exactly = api.get(list_url(agent_a), {"limit": 23}).json()
    assert exactly["pagination"]["nextCursor"] is None
    beyond = api.get(list_url(agent_a), {"limit": 10, "page": 9}).json()
    assert beyond["data"] == [] and beyond["pagination"]["nextCursor"] is None


def refused(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["message"]
    return body


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: c[:-2] + ("xx" if not c.endswith("xx") else "yy"),  # signature
        lambda c: "Z" + c[1:],  # payload
        lambda c: "not-a-cursor",
        lambda c: c.split(":")[0],  # no signature at all
    ],
    ids=["signature", "payload", "garbage", "unsigned"],
)
def test_a_damaged_cursor_is_400_in_the_envelope(
    api: Api, agent_a: Agent, people: list[Contact], damage: Any
) -> None:
    cursor = api.get(list_url(agent_a), {"limit": 5}).json()["pagination"]["nextCursor"]
    body = refused(api.get(list_url(agent_a), {"limit": 5, "cursor": damage(cursor)}), 400)
    assert "cursor" in body["errors"]
    assert "first page" in body["message"]


def test_a_cursor_of_another_query_is_400(api: Api, agent_a: Agent, people: list[Contact]) -> None:
    cursor = api.get(list_url(agent_a), {"limit": 5}).json()["pagination"]["nextCursor"]
    for other in ({"search": "pat"}, {"sort": "createdAt"}, {"stage": "lead"}):
        body = refused(api.get(list_url(agent_a), {"limit": 5, "cursor": cursor, **other}), 400)
        assert "another query" in body["message"]
    # The limit is not part of the query: a client may change it between pages.
    assert api.get(list_url(agent_a), {"limit": 7, "cursor": cursor}).status_code == 200


def test_page_and_cursor_together_are_422(api: Api, agent_a: Agent, people: list[Contact]) -> None:
    cursor = api.get(list_url(agent_a), {"limit": 5}).json()["pagination"]["nextCursor"]
    body = refused(api.get(list_url(agent_a), {"page": 2, "cursor": cursor}), 422)
    assert "page" in body["errors"]


def test_a_cursor_of_another_agent_reads_nothing_of_it(
    agent_a: Agent, agent_b: Agent, people: list[Contact]
) -> None:
    from tests.contacts.conftest import api_for

    ContactFactory(agent=agent_b)
    theirs = api_for(agent_a, "contacts_read")
    cursor = theirs.get(list_url(agent_a), {"limit": 5}).json()["pagination"]["nextCursor"]
    mine = api_for(agent_b, "contacts_read")
    body = refused(mine.get(list_url(agent_b), {"limit": 5, "cursor": cursor}), 400)
    assert "another query" in body["message"]


def test_a_cursor_walks_the_access_matrix(
    client: Client, agent_a: Agent, agent_b: Agent, people: list[Contact], api: Api
) -> None:
    cursor = api.get(list_url(agent_a), {"limit": 5}).json()["pagination"]["nextCursor"]
    walk_access_matrix(
        client,
        "get",
        f"{list_url(agent_a)}?limit=5&cursor={cursor}",
        needs="contacts_read",
        agent=agent_a,
        other_agent=AgentFactory(organization=agent_a.organization),
        other_org_agent=agent_b,
    )


def test_the_openapi_document_describes_the_cursor(client: Client) -> None:
    schema = client.get("/v1/open/openapi.json").json()
    operation = schema["paths"]["/v1/open/contacts/chatbots/{agent_id}"]["get"]
    assert "cursor" in {p["name"] for p in operation["parameters"]}
    pagination = schema["components"]["schemas"]["ContactPagination"]
    assert "nextCursor" in pagination["properties"]


@pytest.mark.parametrize("params", [{}, {"page": 3, "limit": 5}, {"search": "pat", "limit": 4}])
def test_the_list_answers_exactly_what_its_schema_says(
    api: Api, agent_a: Agent, people: list[Contact], params: dict
) -> None:
    from contacts.api import ContactListEnvelope

    response = api.get(list_url(agent_a), params)
    assert response["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    validated = ContactListEnvelope.model_validate(body).model_dump(mode="json")
    # Same keys and values once both are plain JSON (datetimes as ISO strings).
    assert validated.keys() == body.keys() and validated["pagination"] == body["pagination"]
    assert [c.keys() for c in validated["data"]] == [c.keys() for c in body["data"]]
