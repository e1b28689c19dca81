"""`/v1/open/keys/me`: lets an integrator check what their key can do."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Router, Schema

from a2v2.envelope import Envelope, ok
from a2v2.http import ApiRequest
from apikeys.permissions import any_valid_key

router = Router(tags=["keys"])


class KeyAgent(Schema):
    id: str
    name: str


class KeyPermissions(Schema):
    contacts: list[str]
    documents: list[str]


class KeyRateLimits(Schema):
    perMinute: int
    perHour: int


class KeyDetails(Schema):
    keyId: str
    name: str
    description: str
    agent: KeyAgent
    permissions: KeyPermissions
    rateLimits: KeyRateLimits
    ipAllowlist: list[str]
    expiresAt: datetime | None
    createdAt: datetime


@router.get("/me", auth=any_valid_key, response=Envelope[KeyDetails], summary="The calling key")
def key_me(request: ApiRequest) -> dict[str, Any]:
    key = request.api_key
    return ok(
        {
            "keyId": key.key_id,
            "name": key.name,
            "description": key.description,
            "agent": {"id": key.agent.public_id, "name": key.agent.name},
            "permissions": key.permissions_by_area(),
            "rateLimits": {
                "perMinute": key.rate_limit_per_minute,
                "perHour": key.rate_limit_per_hour,
            },
            "ipAllowlist": [str(n) for n in key.networks],
            "expiresAt": key.expires_at,
            "createdAt": key.created_at,
        },
        "This API key is valid.",
    )
