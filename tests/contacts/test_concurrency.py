"""Races between integrations, on PostgreSQL (SQLite serialises every writer anyway).

Each request runs in its own thread with its own database connection, released together
by a barrier, through the whole stack (middleware, key check, view, transaction).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from accounts.models import Agent
from contacts.models import Contact, ContactCount
from tests.contacts.conftest import CONTACT_PERMISSIONS, Api, api_for, by_id, list_url
from tests.factories import ContactFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's concurrent writers")


def race(*calls: Callable[[], Any]) -> list[int]:
    """Run the calls at the same moment; their status codes, sorted."""
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = []
    failures: list[BaseException] = []

    def run(call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            statuses.append(call().status_code)
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return sorted(statuses)


@pytest.fixture
def integrations(agent_a: Agent) -> list[Api]:
    """Two integrations with their own keys, each already verified once."""
    apis = [api_for(agent_a, *CONTACT_PERMISSIONS, name=f"App {n}") for n in (1, 2)]
    for api in apis:
        assert api.get(list_url(agent_a)).status_code == 200
    return apis


def test_two_creates_with_one_external_reference_give_201_and_409(
    agent_a: Agent, integrations: list[Api]
) -> None:
    body = {"email": "same@example.com", "externalReferenceId": "crm-race"}
    statuses = race(*(lambda api=api: api.post(list_url(agent_a), body) for api in integrations))
    assert statuses == [201, 409]
    assert Contact.objects.filter(external_reference_id="crm-race").count() == 1
    assert ContactCount.of(agent_a).visible == 1


def test_two_updates_racing_for_one_external_reference_give_200_and_409(
    agent_a: Agent, integrations: list[Api]
) -> None:
    first, second = ContactFactory(agent=agent_a), ContactFactory(agent=agent_a)
    body = {"email": "x@example.com", "externalReferenceId": "crm-taken"}
    statuses = race(
        lambda: integrations[0].put(by_id(agent_a, first), body),
        lambda: integrations[1].put(by_id(agent_a, second), body),
    )
    assert statuses == [200, 409]
    assert Contact.objects.filter(external_reference_id="crm-taken").count() == 1


def test_two_writes_with_the_same_if_match_give_200_and_412(
    agent_a: Agent, integrations: list[Api]
) -> None:
    contact = ContactFactory(agent=agent_a)
    etag = contact.etag
    statuses = race(
        *(
            lambda api=api, n=n: api.put(
                by_id(agent_a, contact), {"email": f"v{n}@example.com"}, headers={"If-Match": etag}
            )
            for n, api in enumerate(integrations)
        )
    )
    assert statuses == [200, 412]
    contact.refresh_from_db()
    assert contact.version == 2


def test_the_kept_count_survives_concurrent_writes(agent_a: Agent, integrations: list[Api]) -> None:
    api = integrations[0]
    statuses = race(
        *(lambda n=n: api.post(list_url(agent_a), {"email": f"p{n}@example.com"}) for n in range(6))
    )
    assert statuses == [201] * 6
    kept = ContactCount.of(agent_a)
    recounted = ContactCount.recount(agent_a.pk)
    assert (kept.visible, kept.archived) == (recounted.visible, recounted.archived) == (6, 0)
