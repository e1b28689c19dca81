"""The per-endpoint permission check, exercised directly on a resolved request."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.urls import ResolverMatch

from a2v2.envelope import ApiError
from accounts.models import Agent
from apikeys.models import Action, Area
from apikeys.permissions import any_valid_key, requires, undeclared
from tests.factories import make_key

pytestmark = pytest.mark.django_db


def request_for(agent_id: str | None, key=None):
    request = RequestFactory().get("/v1/open/anything")
    kwargs = {"agent_id": agent_id} if agent_id else {}
    request.resolver_match = ResolverMatch(lambda r: None, (), kwargs)
    if key is not None:
        request.api_key = key
    return request


def test_a_key_with_the_permission_passes(agent_a: Agent) -> None:
    key, _ = make_key(agent_a, "contacts_read")
    assert requires(Area.CONTACTS, Action.READ)(request_for(agent_a.public_id, key)) == key


@pytest.mark.parametrize("field", ["contacts_create", "contacts_update", "documents_read"])
def test_any_other_single_permission_is_not_enough(agent_a: Agent, field: str) -> None:
    key, _ = make_key(agent_a, field)
    with pytest.raises(ApiError) as refused:
        requires(Area.CONTACTS, Action.READ)(request_for(agent_a.public_id, key))
    assert refused.value.status == 403
    assert "Contact Access: Read" in refused.value.message


def test_another_agents_path_is_not_found(agent_a: Agent, agent_b: Agent) -> None:
    key, _ = make_key(agent_a, "contacts_read")
    with pytest.raises(ApiError) as refused:
        requires(Area.CONTACTS, Action.READ)(request_for(agent_b.public_id, key))
    assert refused.value.status == 404


def test_an_endpoint_without_a_declaration_is_denied(agent_a: Agent) -> None:
    key, _ = make_key(agent_a, *[f"{a}_{b}" for a in Area for b in Action])
    with pytest.raises(ApiError) as refused:
        undeclared(request_for(agent_a.public_id, key))
    assert refused.value.status == 403


def test_no_key_on_the_request_is_401() -> None:
    with pytest.raises(ApiError) as refused:
        any_valid_key(request_for(None))
    assert refused.value.status == 401


def test_every_open_api_operation_declares_its_permission() -> None:
    from a2v2.api import api
    from apikeys.permissions import KeyPermission

    for _, router in api._routers:
        for path, view in router.path_operations.items():
            for operation in view.operations:
                declared = operation.auth_callbacks
                if path == "/health":  # public by design
                    continue
                assert declared, f"{path} has no auth"
                assert all(isinstance(cb, KeyPermission) for cb in declared), path


# --- the exact answers, and a second permission an endpoint may need ---------------------


def test_each_refusal_says_what_is_wrong(agent_a: Agent, agent_b: Agent) -> None:
    from apikeys.models import Permission

    key, _ = make_key(agent_a, "documents_read")
    cases = [
        (requires(Area.CONTACTS, Action.READ), request_for(agent_a.public_id, key), 403,
         "This API key does not have the Contact Access: Read permission."),
        (requires(Area.DOCUMENTS, Action.READ), request_for(agent_b.public_id, key), 404,
         "Agent not found."),
        (requires(Area.DOCUMENTS, Action.READ), request_for(agent_a.public_id), 401,
         "Authentication failed."),
        (undeclared, request_for(agent_a.public_id, key), 403,
         "This endpoint declares no permission, so no key may call it."),
        (requires(Area.DOCUMENTS, Action.READ, Permission(Area.CONTACTS, Action.CREATE)),
         request_for(agent_a.public_id, key), 403,
         "This API key does not have the Contact Access: Create permission."),
    ]  # fmt: skip
    for check, request, status, message in cases:
        with pytest.raises(ApiError) as refused:
            check(request)
        assert (refused.value.status, refused.value.message) == (status, message)


def test_a_second_permission_is_needed_as_well_as_the_first(agent_a: Agent) -> None:
    from apikeys.models import Permission

    check = requires(Area.DOCUMENTS, Action.READ, Permission(Area.CONTACTS, Action.CREATE))
    both, _ = make_key(agent_a, "documents_read", "contacts_create")
    assert check(request_for(agent_a.public_id, both)) == both
    only_second, _ = make_key(agent_a, "contacts_create")
    with pytest.raises(ApiError) as refused:
        check(request_for(agent_a.public_id, only_second))
    assert "Document Extraction Access: Read" in refused.value.message


def test_a_path_without_an_agent_needs_only_the_permission(agent_a: Agent) -> None:
    key, _ = make_key(agent_a, "contacts_read")
    assert requires(Area.CONTACTS, Action.READ)(request_for(None, key)) == key
    assert any_valid_key(request_for(None, key)) == key
    unresolved = RequestFactory().get("/v1/open/anything")
    unresolved.resolver_match = None
    unresolved.api_key = key
    assert requires(Area.CONTACTS, Action.READ)(unresolved) == key
    with pytest.raises(ApiError):
        requires(Area.CONTACTS, Action.DELETE)(unresolved)


def test_a_key_with_no_permissions_is_refused_everywhere_but_keys_me(
    client: Client, agent_a: Agent
) -> None:
    _, full = make_key(agent_a)
    headers = {"x-api-key": full}
    assert client.get("/v1/open/keys/me", headers=headers).status_code == 200
    response = client.get(f"/v1/open/contacts/chatbots/{agent_a.public_id}", headers=headers)
    assert response.status_code == 403
    assert response.json() == {
        "success": False,
        "message": "This API key does not have the Contact Access: Read permission.",
        "errors": {},
    }
