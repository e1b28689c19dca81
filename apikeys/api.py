"""`/v1/open/keys/me`: lets an integrator check what their key can do."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Query, Router, Schema

from a2v2.envelope import Envelope, ok
from a2v2.http import ApiRequest
from apikeys import insights
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


class UsageQuery(Schema):
    range: Literal["24h", "7d", "30d"] = Field(
        "24h", description="The period: the last 24 hours (hourly slots), 7 or 30 days (daily)."
    )


class UsageSlot(Schema):
    start: datetime
    served: int
    refused: int


class UsageAddress(Schema):
    address: str
    calls: int
    refused: int
    lastSeenAt: datetime


class UsageLastUse(Schema):
    at: datetime
    address: str
    endpoint: str


class KeyUsageDetails(Schema):
    keyId: str
    range: str
    since: datetime
    until: datetime
    served: int
    refused: int
    refusals: dict[str, int] = Field(
        description="Refused calls by reason: permission, agent, ip, rate_limit, expired, "
        "secret, failures, unavailable."
    )
    permissions: dict[str, int] = Field(description="Served calls by permission used.")
    series: list[UsageSlot]
    addressCount: int = Field(description="Addresses seen in the period.")
    addresses: list[UsageAddress] = Field(description="The 100 most recently seen.")
    lastUsed: UsageLastUse | None


@router.get(
    "/me/usage",
    auth=any_valid_key,
    response=Envelope[KeyUsageDetails],
    summary="The calling key's usage",
    description="Calls of this key per hour or day, by outcome and permission, and the "
    "addresses they came from. Counts are written about once a minute (UTC slots).",
)
def key_me_usage(request: ApiRequest, query: Query[UsageQuery]) -> dict[str, Any]:
    report = insights.usage_report(request.api_key, query.range)
    return ok(report.as_json(), "Usage of this API key.")
