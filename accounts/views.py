from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers

from a2v2.http import AuthenticatedHttpRequest
from accounts import audit
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
    action = chosen_action(request)
    events = AuditEvent.objects.visible_to(access.membership).filtered(action)
    page = Paginator(events.select_related("user"), AUDIT_EVENTS_PER_PAGE)
    template = "accounts/audit_logs.html"
    fragment = bool(request.htmx and not request.htmx.history_restore_request)
    if fragment:
        template += "#events"
    context = {
        "access": access,
        "section": "audit-logs",
        "page": page.get_page(request.GET.get("page")),
        "action": action,
        "oob": fragment,  # the export links follow the filter
        "actions": AuditAction.choices,
    }
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def chosen_action(request: AuthenticatedHttpRequest) -> str:
    action = request.GET.get("action", "")
    return action if action in AuditAction.values else ""


@login_required
def audit_export(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    """The filtered view as a CSV or JSON Lines download, oldest first, streamed."""
    access = agent_access(request, agent_id)
    kind = request.GET.get("format", "csv")
    if kind not in audit.EXPORTERS:
        return HttpResponse("Choose format=csv or format=jsonl.", status=400)
    action = chosen_action(request)
    events = AuditEvent.objects.visible_to(access.membership).filtered(action)
    events = events.select_related("user", "agent").order_by("id")
    exported = AuditEvent.record(
        action=AuditAction.READ,
        resource="Audit log",
        description=f"Exported the audit log ({kind.upper()}{', ' + action if action else ''})",
        organization=access.agent.organization,
        agent=access.agent,
        request=request,
    )
    # The trail as it was when asked for (the streaming goes on as new events are written).
    events = events.filter(pk__lt=exported.pk)
    lines = audit.EXPORTERS[kind](events.iterator(chunk_size=2000))
    response = StreamingHttpResponse(lines, content_type=audit.CONTENT_TYPES[kind])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    filename = f"audit-log-{access.agent.public_id}-{stamp}.{kind}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    add_never_cache_headers(response)
    return response
