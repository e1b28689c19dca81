"""Each Open API endpoint declares the one permission it needs; nothing else gets in.

`auth=requires(Area.CONTACTS, Action.READ)` on an operation checks the key that
ApiKeyMiddleware attached, and that the `<AGENT_ID>` in the path is the key's own agent
(another agent answers as not found). The API's default, for an operation that declares
nothing, is `undeclared`: always denied.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import APIKeyHeader

from a2v2.envelope import ApiError
from apikeys.models import Action, ApiKey, Area, Permission


class KeyPermission(APIKeyHeader):
    param_name = "X-API-Key"

    def __init__(self, permission: Permission | None, *also: Permission) -> None:
        self.permission = permission
        self.also = also
        super().__init__()

    def __call__(self, request: HttpRequest) -> ApiKey:
        key: ApiKey | None = getattr(request, "api_key", None)
        if key is None:
            raise ApiError(401)
        # What the call used or was refused for, for the key's usage counts (apikeys/usage.py).
        request.key_permission = self.permission  # type: ignore[attr-defined]
        agent_id = request.resolver_match.kwargs.get("agent_id") if request.resolver_match else None
        if agent_id is not None and agent_id != key.agent.public_id:
            request.key_refused = "agent"  # type: ignore[attr-defined]
            raise ApiError(404, "Agent not found.")
        for needed in (self.permission, *self.also):
            if needed is not None and not key.allows(needed):
                request.key_permission = needed  # type: ignore[attr-defined]
                request.key_refused = "permission"  # type: ignore[attr-defined]
                raise ApiError(403, f"This API key does not have the {needed} permission.")
        return key

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:  # pragma: no cover
        raise NotImplementedError  # __call__ does the work


def requires(area: Area, action: Action, *also: Permission) -> KeyPermission:
    """The permission an endpoint needs (plus, rarely, `also` others: an extraction turned
    into a contact needs Contact Access create too)."""
    return KeyPermission(Permission(area, action), *also)


any_valid_key = KeyPermission(None)


class Undeclared(KeyPermission):
    def __init__(self) -> None:
        super().__init__(None)

    def __call__(self, request: HttpRequest) -> ApiKey:
        raise ApiError(403, "This endpoint declares no permission, so no key may call it.")


undeclared = Undeclared()
