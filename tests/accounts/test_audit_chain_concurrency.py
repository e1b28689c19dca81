"""Writers racing on one organization's trail still make one chain, on PostgreSQL (the
advisory lock per organization; SQLite serialises every writer anyway)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from accounts import audit
from accounts.models import AuditAction, AuditEvent, Organization

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS = 6
EACH = 15


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's concurrent writers")


def test_racing_writers_make_one_unbroken_chain(org_a: Organization) -> None:
    barrier = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(EACH):
                AuditEvent.record(
                    action=AuditAction.READ,
                    resource="Race",
                    description=f"writer {n} event {i}",
                    organization=org_a,
                    actor=f"writer {n}",
                )
        except BaseException as error:
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures, failures
    report = audit.verify(AuditEvent.objects.trail(org_a.pk), org_a.pk)
    assert report.ok, report.problem
    assert report.events == WRITERS * EACH
    links = list(AuditEvent.objects.trail(org_a.pk).values_list("previous_hash", flat=True))
    assert len(set(links)) == len(links)  # no two events link to the same predecessor
