"""API Permissions → Webhooks: an agent's endpoints for key events and their delivery log.

Owners and Admins only (`key_manager`); adding and deleting an endpoint also go through
sudo mode, like creating and deleting a key. The signing secret is shown once, in the
response body of the request that created it, never cached.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from a2v2.http import AuthenticatedHttpRequest
from accounts.access import AgentAccess
from accounts.models import AuditAction
from accounts.sudo import sudo_required
from apikeys import webhooks
from apikeys.forms import WebhookEndpointForm
from apikeys.models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from apikeys.views import key_manager

PAGE = "apikeys/webhooks.html"
LOG_LENGTH = 50


def render_page(
    request: AuthenticatedHttpRequest, access: AgentAccess, *, status: int = 200, **context: Any
) -> HttpResponse:
    deliveries = WebhookDelivery.objects.for_agent(access.agent).select_related("endpoint", "event")
    context = {
        "access": access,
        "section": "api-permissions",
        "endpoints": WebhookEndpoint.objects.filter(agent=access.agent),
        "deliveries": deliveries[:LOG_LENGTH],
        "form": context.pop("form", None) or WebhookEndpointForm(),
        "signature_header": webhooks.SIGNATURE_HEADER,
        "replay_window": webhooks.REPLAY_WINDOW_SECONDS,
        **context,
    }
    return render(request, PAGE, context, status=status)


def agent_endpoint(access: AgentAccess, endpoint_id: str) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint, agent=access.agent, public_id=endpoint_id)


@require_http_methods(["GET"])
@key_manager
def webhook_list(request: AuthenticatedHttpRequest, access: AgentAccess) -> HttpResponse:
    return render_page(request, access)


@require_http_methods(["GET", "POST"])
@key_manager
@sudo_required
def webhook_new(request: AuthenticatedHttpRequest, access: AgentAccess) -> HttpResponse:
    form = WebhookEndpointForm(request.POST if request.method == "POST" else None)
    if not form.is_bound:
        return redirect("apikeys:webhooks", access.agent.public_id)
    if not form.is_valid():
        return render_page(request, access, form=form, status=422)
    endpoint, secret = WebhookEndpoint.register(
        access.agent, created_by=request.user, **form.cleaned_data
    )
    endpoint.record(AuditAction.CREATE, f"Added webhook endpoint {endpoint.url}", request=request)
    response = render_page(request, access, created=endpoint, secret=secret)
    add_never_cache_headers(response)  # key_manager does too; the secret is why
    return response


@require_http_methods(["GET", "POST"])
@key_manager
@sudo_required
def webhook_delete(
    request: AuthenticatedHttpRequest, access: AgentAccess, endpoint_id: str
) -> HttpResponse:
    endpoint = agent_endpoint(access, endpoint_id)
    if request.method == "GET":
        return render_page(request, access, deleting=endpoint)
    endpoint.record(AuditAction.DELETE, f"Deleted webhook endpoint {endpoint.url}", request=request)
    endpoint.delete()
    messages.success(request, "Webhook endpoint deleted.")
    return redirect("apikeys:webhooks", access.agent.public_id)


@require_POST
@key_manager
def webhook_test(
    request: AuthenticatedHttpRequest, access: AgentAccess, endpoint_id: str
) -> HttpResponse:
    endpoint = agent_endpoint(access, endpoint_id)
    data = {"message": "A test event from A2V2 API Permissions.", "sentBy": request.user.email}
    webhooks.emit(WebhookEventType.PING, access.agent, data, only=endpoint)
    endpoint.record(AuditAction.UPDATE, f"Sent a test event to {endpoint.url}", request=request)
    messages.success(request, "Test event queued; its delivery appears in the log below.")
    return redirect("apikeys:webhooks", access.agent.public_id)
