from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers

from a2v2.http import AuthenticatedHttpRequest
from accounts.access import agent_access
from accounts.models import Agent, AuditAction, AuditEvent

AUDIT_EVENTS_PER_PAGE = 25


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    agents = list(Agent.objects.for_user(request.user).select_related("organization"))
    if len(agents) == 1:
        return redirect("accounts:agent-home", agent_id=agents[0].public_id)
    return render(request, "accounts/home.html", {"agents": agents})


@login_required
def agent_home(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    access = agent_access(request, agent_id)
    return redirect("contacts:contacts", agent_id=access.agent.public_id)


@login_required
def audit_logs(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    """Owners and Admins see the organization's activity, Users their own; the table alone
    for htmx (filter, pages), the whole page otherwise."""
    access = agent_access(request, agent_id)
    events = AuditEvent.objects.visible_to(access.membership).select_related("user")
    action = request.GET.get("action", "")
    if action in AuditAction.values:
        events = events.filter(action=action)
    else:
        action = ""
    page = Paginator(events, AUDIT_EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    template = "accounts/audit_logs.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#events"
    context = {
        "access": access,
        "section": "audit-logs",
        "page": page,
        "action": action,
        "actions": AuditAction.choices,
    }
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response
