"""The API Permissions page: list, the two-step Add API Key modal, copy, edit, rotate, delete.

Every view goes through `key_manager` (Owners and Admins, desktop only); revealing,
creating, rotating and deleting a key also through `sudo_required` (accounts/sudo.py).
Responses vary on who asks and how, and none is stored by a browser or proxy: several carry
a full key, which travels in the response body only — never in a cookie, the messages
framework or a URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event

from a2v2.http import AuthenticatedHttpRequest
from accounts.access import AgentAccess, agent_access
from accounts.models import AuditAction, AuditStatus
from accounts.sudo import sudo_required
from apikeys import insights
from apikeys.counters import CountersUnavailable
from apikeys.crypto import UndecryptableKey
from apikeys.forms import ApiKeyForm, KeyBasicsForm, KeyPermissionsForm, RotateForm
from apikeys.models import GRACE_PERIODS, ApiKey, WebhookEventType
from apikeys.webhooks import emit_key_event

DETAIL = "apikeys/key_detail.html"
NARROWED = {
    "permissions": "Unused permissions removed.",
    "allowlist": "IP allowlist narrowed to the addresses in use.",
}

PAGE = "apikeys/key_list.html"
# The seed's "Desktop Only" is about phones: tablets (an iPad, an Android tablet, whose user
# agents say "iPad" or lack "Mobile") get the page; narrow windows still get the notice by CSS.
PHONE_USER_AGENT = re.compile(r"iPhone|iPod|Android.*Mobile|Windows Phone|Mobi")
TABLET_USER_AGENT = re.compile(r"iPad|Tablet")
SHOW_ONCE = "This key was shown once when it was created. It can only be rotated."

KeyView = Callable[..., HttpResponse]


def is_phone(request: AuthenticatedHttpRequest) -> bool:
    if request.headers.get("Sec-CH-UA-Mobile") == "?1":
        return True
    agent = request.headers.get("User-Agent", "")
    return bool(PHONE_USER_AGENT.search(agent)) and not TABLET_USER_AGENT.search(agent)


def key_manager(view: KeyView) -> KeyView:
    """Owners and Admins only (404 for strangers, 403 for Users); phones get the
    Desktop Only notice instead of the controls."""

    @wraps(view)
    def wrapper(request: AuthenticatedHttpRequest, agent_id: str, **kwargs: Any) -> HttpResponse:
        access = agent_access(request, agent_id, manage=True)
        if is_phone(request):
            response = render(request, PAGE, page_context(access, desktop_only=True))
        else:
            try:
                with transaction.atomic():  # the audit event goes with the change
                    response = view(request, access, **kwargs)
            except CountersUnavailable:
                response = keys_unchanged(request, access)
        patch_vary_headers(response, ("HX-Request", "User-Agent", "Sec-CH-UA-Mobile"))
        response["Accept-CH"] = "Sec-CH-UA-Mobile"
        add_never_cache_headers(response)
        return response

    return login_required(wrapper)


def page_context(access: AgentAccess, **context: Any) -> dict[str, Any]:
    return {"access": access, "section": "api-permissions", **context}


def render_page(
    request: AuthenticatedHttpRequest,
    access: AgentAccess,
    *,
    modal: str | None = None,
    status: int = 200,
    **context: Any,
) -> HttpResponse:
    """The whole page (with `modal` open in its dialog), or for htmx just the fragment."""
    context = page_context(access, modal=modal, **context)
    if request.htmx and not request.htmx.history_restore_request:
        fragment = modal or "keys"
        if fragment == "keys":
            context["keys"] = listed_keys(access)
        return render(request, f"{PAGE}#{fragment}", context, status=status)
    context["keys"] = listed_keys(access)
    context["modal_template"] = f"{PAGE}#{modal}" if modal else None
    return render(request, PAGE, context, status=status)


def keys_changed(
    request: AuthenticatedHttpRequest, access: AgentAccess, message: str
) -> HttpResponse:
    """After an edit or delete: the table in place and a toast (htmx), else a redirect."""
    if not request.htmx:
        messages.success(request, message)
        return redirect("apikeys:api-permissions", access.agent.public_id)
    keys = listed_keys(access)
    response = render(request, f"{PAGE}#keys", page_context(access, keys=keys))
    retarget(response, "#keys")
    reswap(response, "outerHTML")
    trigger_client_event(response, "showToast", {"message": message})
    trigger_client_event(response, "closeModal", after="settle")
    return response


KEYS_UNREACHABLE = (
    "Nothing was changed: Redis, which tells every web process of a change to a key, "
    "cannot be reached. Try again shortly."
)


def keys_unchanged(request: AuthenticatedHttpRequest, access: AgentAccess) -> HttpResponse:
    """A change refused because Redis is down (apikeys/records.py): say so, keep the
    dialog and what was typed (htmx), else back to the list with the message."""
    if not request.htmx:
        messages.error(request, KEYS_UNREACHABLE)
        return redirect("apikeys:api-permissions", access.agent.public_id)
    # 200, not 503: htmx would add its generic "Something went wrong" toast to this one.
    response = HttpResponse()
    reswap(response, "none")
    trigger_client_event(response, "showToast", {"message": KEYS_UNREACHABLE, "kind": "error"})
    return response


def key_shown(
    request: AuthenticatedHttpRequest,
    access: AgentAccess,
    key: ApiKey,
    full_key: str,
    **context: Any,
) -> HttpResponse:
    """The full key, in the response body only, never cached."""
    # The dialog's own banner says "API key created successfully." (once: no toast too).
    context |= {"key": key, "full_key": full_key}
    detail = reverse("apikeys:api-key-detail", args=[access.agent.public_id, key.key_id])
    if request.htmx and (request.htmx.current_url_abs_path or "").split("?")[0] == detail:
        # Rotated from the key's page: Done goes back to it, fresh; no table to refresh.
        context["done_url"] = detail
        response = render(request, f"{PAGE}#key-shown", page_context(access, **context))
    elif request.htmx:
        keys = listed_keys(access)
        context |= {"keys": keys, "refresh_keys": True}
        response = render(request, f"{PAGE}#key-shown", page_context(access, **context))
    else:
        response = render_page(request, access, modal="key-shown", **context)
    add_never_cache_headers(response)
    return response


def listed_keys(access: AgentAccess) -> list[ApiKey]:
    """The agent's keys, each with its least-privilege `suggestion` (for the row's flag)."""
    keys = list(ApiKey.objects.for_agent(access.agent))
    found = insights.suggestions(keys)
    for key in keys:
        key.suggestion = found[key.pk]  # type: ignore[attr-defined]
    return keys


def agent_key(access: AgentAccess, key_id: str) -> ApiKey:
    return get_object_or_404(ApiKey.objects.for_agent(access.agent), key_id=key_id)


@require_http_methods(["GET"])
@key_manager
def key_list(request: AuthenticatedHttpRequest, access: AgentAccess) -> HttpResponse:
    return render_page(request, access)


@require_http_methods(["GET", "POST"])
@key_manager
@sudo_required
def key_create(request: AuthenticatedHttpRequest, access: AgentAccess) -> HttpResponse:
    """Step 1 → Next → step 2 → Give Access. Each step posts everything typed so far
    (the other step's values as hidden fields); nothing is kept on the server in between."""
    if request.method == "GET":
        return render_page(request, access, modal="step-1", basics=KeyBasicsForm())
    action = request.POST.get("action")
    basics = KeyBasicsForm(request.POST)
    carried = "rate_limit_per_minute" in request.POST
    permissions = KeyPermissionsForm(request.POST if carried else None)
    steps = {"basics": basics, "permissions": permissions}
    if action == "back":
        return render_page(request, access, modal="step-1", **steps)
    if not basics.is_valid():
        return render_page(request, access, modal="step-1", status=422, **steps)
    if action != "create" or not permissions.is_valid():
        status = 422 if action == "create" else 200
        return render_page(request, access, modal="step-2", status=status, **steps)
    key, full_key = ApiKey.issue(
        access.agent, created_by=request.user, **basics.cleaned_data, **permissions.key_fields()
    )
    key.record(AuditAction.CREATE, f'Created API key "{key.name}"', request=request)
    emit_key_event(WebhookEventType.KEY_CREATED, key)
    return key_shown(
        request, access, key, full_key, message="API key created successfully.", created=True
    )


@require_http_methods(["GET", "POST"])
@key_manager
def key_edit(request: AuthenticatedHttpRequest, access: AgentAccess, key_id: str) -> HttpResponse:
    key = agent_key(access, key_id)
    form = ApiKeyForm(request.POST if request.method == "POST" else None, key=key)
    if form.is_bound and form.is_valid():
        changed = form.changed_labels()
        form.save()
        description = f'Updated API key "{key.name}"' + (f" ({changed})" if changed else "")
        key.record(AuditAction.UPDATE, description, request=request)
        emit_key_event(WebhookEventType.KEY_UPDATED, key, changed=changed)
        return keys_changed(request, access, "API key updated successfully.")
    status = 422 if form.is_bound else 200
    return render_page(request, access, modal="edit", key=key, form=form, status=status)


@require_http_methods(["GET", "POST"])
@key_manager
@sudo_required
def key_rotate(request: AuthenticatedHttpRequest, access: AgentAccess, key_id: str) -> HttpResponse:
    key = agent_key(access, key_id)
    form = RotateForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        grace = form.cleaned_data["grace"]
        on_first_use = form.cleaned_data["on_first_use"]
        try:
            full_key = key.rotate(GRACE_PERIODS[grace], on_first_use=on_first_use, by=request.user)
        except ValidationError as error:
            form.add_error(None, error)
            failed = f'Could not rotate API key "{key.name}": {error.messages[0]}'
            key.record(AuditAction.UPDATE, failed, request=request, status=AuditStatus.FAILURE)
        else:
            label = dict(form.fields["grace"].choices)[grace]
            if on_first_use and grace != "none":
                label += ", from the new key's first use"
            description = f'Rotated API key "{key.name}" (grace period: {label})'
            key.record(AuditAction.UPDATE, description, request=request)
            emit_key_event(WebhookEventType.KEY_ROTATED, key)
            return key_shown(
                request, access, key, full_key, message="API key rotated successfully."
            )
    status = 422 if form.is_bound else 200
    return render_page(request, access, modal="rotate", key=key, form=form, status=status)


@require_http_methods(["GET", "POST"])
@key_manager
@sudo_required
def key_delete(request: AuthenticatedHttpRequest, access: AgentAccess, key_id: str) -> HttpResponse:
    key = agent_key(access, key_id)
    if request.method == "POST":
        key.record(AuditAction.DELETE, f'Deleted API key "{key.name}"', request=request)
        emit_key_event(WebhookEventType.KEY_DELETED, key)
        key.delete()
        return keys_changed(request, access, "API key deleted.")
    return render_page(request, access, modal="delete", key=key)


@require_POST
@key_manager
@sudo_required
def key_reveal(request: AuthenticatedHttpRequest, access: AgentAccess, key_id: str) -> HttpResponse:
    """Copy API Key on a row: the key again, as JSON for the clipboard script, or as a page."""
    key = agent_key(access, key_id)
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        full_key = key.reveal() if key.can_reveal else None
    except UndecryptableKey:
        if wants_json:
            return JsonResponse({"error": UndecryptableKey.message}, status=500)
        messages.error(request, UndecryptableKey.message)
        return redirect("apikeys:api-permissions", access.agent.public_id)
    if full_key is None:
        if wants_json:
            return JsonResponse({"error": SHOW_ONCE}, status=409)
        messages.error(request, SHOW_ONCE)
        return redirect("apikeys:api-permissions", access.agent.public_id)
    key.record(AuditAction.READ, f'Revealed API key "{key.name}"', request=request)
    if wants_json:
        response = JsonResponse({"key": full_key})
        add_never_cache_headers(response)
        return response
    return key_shown(request, access, key, full_key, revealed=True)


# --- a key's page ------------------------------------------------------------------------


def detail_context(key: ApiKey, range_name: str) -> dict[str, Any]:
    report = insights.usage_report(key, range_name)
    return {
        "key": key,
        "report": report,
        "chart": insights.chart(report),
        "ranges": insights.RANGE_LABELS,
        "range_label": insights.RANGE_LABELS[range_name],
        "suggestion": insights.suggestions([key])[key.pk],
        "grace": insights.grace_watch(key),
        "rotations": key.rotations.select_related("rotated_by")[:10],
    }


def render_detail(
    request: AuthenticatedHttpRequest,
    access: AgentAccess,
    key: ApiKey,
    *,
    modal: str | None = None,
    status: int = 200,
    **context: Any,
) -> HttpResponse:
    """The key's page (with `modal` open), or for htmx the usage panel or the modal."""
    range_name = request.GET.get("range", "24h")
    if range_name not in insights.RANGES:
        range_name = "24h"
    context = page_context(access, modal=modal, **(detail_context(key, range_name) | context))
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, f"{DETAIL}#{modal or 'usage'}", context, status=status)
    context["modal_template"] = f"{DETAIL}#{modal}" if modal else None
    return render(request, DETAIL, context, status=status)


def key_page_changed(
    request: AuthenticatedHttpRequest, access: AgentAccess, key: ApiKey, message: str
) -> HttpResponse:
    """After an action on the key's page: that page again, with the message as a toast."""
    messages.success(request, message)
    url = reverse("apikeys:api-key-detail", args=[access.agent.public_id, key.key_id])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@require_http_methods(["GET"])
@key_manager
def key_detail(request: AuthenticatedHttpRequest, access: AgentAccess, key_id: str) -> HttpResponse:
    return render_detail(request, access, agent_key(access, key_id))


@require_http_methods(["GET", "POST"])
@key_manager
@sudo_required
def key_narrow(
    request: AuthenticatedHttpRequest, access: AgentAccess, key_id: str, what: str
) -> HttpResponse:
    """Remove what the key has not used (its unused permissions, or the allowlist entries no
    call came from): the suggestion as computed now, never as the form posted it."""
    key = agent_key(access, key_id)
    if what not in NARROWED:
        raise Http404
    if request.method == "POST" and (description := insights.narrow(key, what)):
        key.record(AuditAction.UPDATE, description, request=request)
        return key_page_changed(request, access, key, NARROWED[what])
    return render_detail(request, access, key, modal=f"narrow-{what}")


@require_http_methods(["GET", "POST"])
@key_manager
@sudo_required
def key_end_grace(
    request: AuthenticatedHttpRequest, access: AgentAccess, key_id: str
) -> HttpResponse:
    key = agent_key(access, key_id)
    if request.method == "GET":
        return render_detail(request, access, key, modal="end-grace")
    if key.end_grace():
        description = f'Ended the grace period of API key "{key.name}": the old key no longer works'
        key.record(AuditAction.UPDATE, description, request=request)
        return key_page_changed(
            request, access, key, "Grace period ended. The old key no longer works."
        )
    return key_page_changed(request, access, key, "No grace period was running.")
