"""Sudo mode: sensitive actions ask for the password (and the two-factor code, when enrolled)
again once the last confirmation is older than SUDO_MODE_MINUTES.

Signing in counts as a confirmation. `@sudo_required` wraps a view: while the confirmation is
fresh the view runs; otherwise the confirmation form answers instead — inside the modal for
htmx, as a page otherwise, as `{"sudo": true}` for a JSON request — and posts back to the
same URL with whatever the first request carried, so that a right password continues the
very action that was asked for (a GET is answered as a GET). SUDO_MODE_MINUTES=0 asks
every time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from accounts.forms import SudoForm
from accounts.models import AuditAction, AuditEvent, AuditStatus, Organization

SESSION_KEY = "sudo_confirmed_at"
CONFIRM_FIELD = "sudo_password"
METHOD_FIELD = "sudo_method"
OWN_FIELDS = (CONFIRM_FIELD, "sudo_code", METHOD_FIELD)
TEMPLATE = "accounts/sudo.html"

View = Callable[..., HttpResponse]


def mark_confirmed(request: HttpRequest) -> None:
    request.session[SESSION_KEY] = int(time.time())


def is_fresh(request: HttpRequest) -> bool:
    confirmed_at = request.session.get(SESSION_KEY, 0)
    return time.time() - confirmed_at < settings.SUDO_MODE_MINUTES * 60


def sudo_required(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST" and CONFIRM_FIELD in request.POST:
            form = SudoForm(request, data=request.POST)
            confirmed = form.is_valid()
            record(request, confirmed)
            if not confirmed:
                return confirmation(request, form, status=422)
            mark_confirmed(request)
            if request.POST.get(METHOD_FIELD) == "GET":
                # It was a GET (opening a modal): answer it as one, in this same response.
                request.method = "GET"
                request.POST = QueryDict()
            else:
                request.POST = without_own_fields(request.POST)
        elif not is_fresh(request):
            if "application/json" in request.headers.get("Accept", ""):
                message = "Confirm your password to continue."
                return JsonResponse({"error": message, "sudo": True}, status=403)
            return confirmation(request, SudoForm(request))
        return view(request, *args, **kwargs)

    return wrapper


def confirmation(request: HttpRequest, form: SudoForm, status: int = 200) -> HttpResponse:
    """The form, carrying the first request's fields so the action can go on after it."""
    carried = QueryDict(mutable=True)
    if request.method == "POST":
        carried = without_own_fields(request.POST)
        carried.pop("csrfmiddlewaretoken", None)
    method = request.POST.get(METHOD_FIELD, request.method)
    context = {
        "form": form,
        "action": request.get_full_path(),
        "method": method,
        "carried": [(name, value) for name in carried for value in carried.getlist(name)],
    }
    template = f"{TEMPLATE}#confirm" if getattr(request, "htmx", False) else TEMPLATE
    response = render(request, template, context, status=status)
    add_never_cache_headers(response)
    return response


def without_own_fields(data: QueryDict) -> QueryDict:
    kept = data.copy()
    for name in OWN_FIELDS:
        kept.pop(name, None)
    return kept


def record(request: HttpRequest, confirmed: bool) -> None:
    description = (
        "Confirmed password for a sensitive action"
        if confirmed
        else "Password confirmation for a sensitive action failed"
    )
    user = request.user
    # In id order: each takes its trail's lock, and the same order everywhere cannot deadlock.
    for organization in Organization.objects.for_user(user).order_by("pk"):  # type: ignore[arg-type]
        AuditEvent.record(
            action=AuditAction.LOGIN,
            resource="Session",
            description=description,
            organization=organization,
            request=request,
            status=AuditStatus.SUCCESS if confirmed else AuditStatus.FAILURE,
        )
