"""Object access for the admin UI: one helper, called first in every agent page.

Strangers get 404 (they must not learn that an agent exists); members whose role does
not allow the action get 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from a2v2.http import AuthenticatedHttpRequest
from accounts.models import Agent, Membership


@dataclass(frozen=True)
class AgentAccess:
    agent: Agent
    membership: Membership

    @property
    def manages_keys(self) -> bool:
        return self.membership.manages_keys


def agent_access(
    request: AuthenticatedHttpRequest, agent_id: str, *, manage: bool = False
) -> AgentAccess:
    agent = get_object_or_404(
        Agent.objects.for_user(request.user).select_related("organization"), public_id=agent_id
    )
    membership = Membership.objects.select_related("user", "organization").get(
        organization=agent.organization, user=request.user
    )
    if manage and not membership.manages_keys:
        raise PermissionDenied("Only the organization's Owner and Admins can manage this.")
    return AgentAccess(agent=agent, membership=membership)
