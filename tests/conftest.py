"""The fixed cast: owner, admin and user of organization A (agent A); a stranger who owns
organization B (agent B). Access tests read as sentences with them."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client

from accounts import sudo
from accounts.models import Agent, Organization, Role, User
from apikeys import counters, records, usage
from tests.factories import AgentFactory, MembershipFactory, OrganizationFactory
from tests.webhook_receiver import receiver  # noqa: F401 (a fixture)


@functools.cache
def _build_open_api_schemas() -> None:
    from a2v2.api import api

    api.get_openapi_schema()


@pytest.fixture(scope="session", autouse=True)
def _open_api_schemas_built() -> None:
    # The Open API's response schemas are built on first use from their annotations' names,
    # and under freezegun `datetime` names its fake class, which pydantic refuses: build them
    # before any test freezes the clock. (Once per process: bin/mutation's forked workers
    # inherit them.)
    _build_open_api_schemas()


@pytest.fixture(autouse=True)
def _fresh_cache(request: pytest.FixtureRequest) -> Iterator[None]:
    # The cache and the counters are shared (database, SQLite file or Redis), and usage
    # counts accumulate in the process: counts must not leak between tests.
    uses_db = request.node.get_closest_marker("django_db") or {
        "db",
        "transactional_db",
        "live_server",
    } & set(request.fixturenames)
    if uses_db:
        request.getfixturevalue(
            "db" if "live_server" not in request.fixturenames else "transactional_db"
        )
        cache.clear()
        counters.store().clear()
        records.clear()  # rows rolled back between tests tell no process
    usage.accumulator.take()  # usage counted in this process belongs to one test only
    yield
    usage.accumulator.take()  # never flushed at exit into a database the tests dropped
    if uses_db:
        cache.clear()
        counters.store().clear()
        records.clear()


@pytest.fixture
def org_a(db: None) -> Organization:
    return OrganizationFactory(name="Acme")


@pytest.fixture
def owner(org_a: Organization) -> User:
    return MembershipFactory(
        organization=org_a, role=Role.OWNER, user__email="owner@acme.test"
    ).user


@pytest.fixture
def admin(org_a: Organization) -> User:
    return MembershipFactory(
        organization=org_a, role=Role.ADMIN, user__email="admin@acme.test"
    ).user


@pytest.fixture
def member(org_a: Organization) -> User:
    """A plain User of organization A (no key management)."""
    return MembershipFactory(organization=org_a, role=Role.USER, user__email="user@acme.test").user


@pytest.fixture
def agent_a(org_a: Organization) -> Agent:
    return AgentFactory(organization=org_a, name="Support bot")


@pytest.fixture
def org_b(db: None) -> Organization:
    return OrganizationFactory(name="Globex")


@pytest.fixture
def stranger(org_b: Organization) -> User:
    """The owner of organization B, who must never see anything of A."""
    return MembershipFactory(
        organization=org_b, role=Role.OWNER, user__email="boss@globex.test"
    ).user


@pytest.fixture
def agent_b(org_b: Organization) -> Agent:
    return AgentFactory(organization=org_b, name="Globex bot")


def client_for(user: User, *, just_signed_in: bool = True) -> Client:
    """A client signed in as `user`. Signing in through the form counts as a sudo-mode
    confirmation, so by default the session holds one; `just_signed_in=False` is a session
    whose confirmation has lapsed."""
    client = Client()
    client.force_login(user)
    if just_signed_in:
        session = client.session
        session[sudo.SESSION_KEY] = int(time.time())
        session.save()
    return client
