from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render

from a2v2.http import AuthenticatedHttpRequest
from accounts.access import agent_access
from accounts.models import Agent


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    agents = list(Agent.objects.for_user(request.user).select_related("organization"))
    if len(agents) == 1:
        return redirect("agent-home", agent_id=agents[0].public_id)
    return render(request, "accounts/home.html", {"agents": agents})


@login_required
def agent_home(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    access = agent_access(request, agent_id)
    return redirect("contacts", agent_id=access.agent.public_id)


@login_required
def audit_logs(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    access = agent_access(request, agent_id)
    return render(request, "accounts/audit_logs.html", {"access": access, "section": "audit-logs"})
