"""Members & roles, and Agents: the workspace's settings pages, for Owners and Admins.

Users get 403 and strangers 404 (`agent_access(..., manage=True)`), as on API Permissions:
the seed's "Members & roles" is where one "controls who on your team can manage the
workspace", a control surface, not a directory. Changing members asks for sudo mode.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event
from django_otp.plugins.otp_totp.models import TOTPDevice

from a2v2.http import AuthenticatedHttpRequest
from accounts import signin
from accounts.access import AgentAccess, agent_access
from accounts.forms import AgentForm, InviteForm, RequireTwoFactorForm, RoleForm, TransferForm
from accounts.mailing import NOT_SENT, SEND_ERRORS
from accounts.models import (
    Agent,
    AuditAction,
    AuditEvent,
    Invitation,
    Membership,
    Organization,
    Role,
)
from accounts.sudo import sudo_required

logger = logging.getLogger(__name__)

MEMBERS = "accounts/members.html"
AGENTS = "accounts/agents.html"


def render_modal(
    request: AuthenticatedHttpRequest,
    template: str,
    modal: str | None,
    context: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    """The modal's fragment for htmx; else the whole page with the modal open in it."""
    if request.htmx and modal and not request.htmx.history_restore_request:
        response = render(request, f"{template}#{modal}", context, status=status)
    else:
        context["modal"] = modal
        context["modal_template"] = f"{template}#{modal}" if modal else None
        response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    add_never_cache_headers(response)
    return response


def not_changed(
    request: AuthenticatedHttpRequest, context: dict[str, Any], text: str
) -> HttpResponse:
    """An action that could not be done: an error toast (htmx), else the page with the message."""
    if not request.htmx:
        messages.error(request, text)
        return redirect(context["page_url"])
    response = HttpResponse(status=204)
    trigger_client_event(response, "showToast", {"message": text, "kind": "error"})
    return response


def changed(
    request: AuthenticatedHttpRequest,
    template: str,
    region: str,
    context: dict[str, Any],
    text: str,
) -> HttpResponse:
    """After a change: the region in place, a toast and the modal closed (htmx), else back
    to the page with a message."""
    if not request.htmx:
        messages.success(request, text)
        return redirect(context["page_url"])
    response = render(request, f"{template}#{region}", context)
    retarget(response, f"#{region}")
    reswap(response, "outerHTML")
    trigger_client_event(response, "showToast", {"message": text})
    trigger_client_event(response, "closeModal", after="settle")
    return response


def workspace_manager(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in, then Owners and Admins only (404 for strangers, 403 for Users) — checked
    before anything else, sudo mode included; the view gets the access."""

    @wraps(view)
    def wrapper(request: AuthenticatedHttpRequest, agent_id: str, **kwargs: Any) -> HttpResponse:
        return view(request, agent_access(request, agent_id, manage=True), **kwargs)

    return login_required(wrapper)


def workspace_owner(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """As `workspace_manager`, and then the Owner only (403 for Admins)."""

    @wraps(view)
    def wrapper(request: AuthenticatedHttpRequest, agent_id: str, **kwargs: Any) -> HttpResponse:
        access = agent_access(request, agent_id, manage=True)
        if not access.membership.is_owner:
            raise PermissionDenied("Only the organization's Owner can do this.")
        return view(request, access, **kwargs)

    return login_required(wrapper)


def record(
    request: AuthenticatedHttpRequest,
    access: AgentAccess,
    action: AuditAction,
    *,
    resource: str,
    description: str,
) -> None:
    AuditEvent.record(
        action=action,
        resource=resource,
        description=description,
        organization=access.agent.organization,
        request=request,
    )


# ---- Members & roles ----------------------------------------------------------------------


def members_context(access: AgentAccess, **extra: Any) -> dict[str, Any]:
    organization = access.agent.organization
    memberships = list(
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("role", "user__email")
    )
    locks = signin.locks_for([m.user.email for m in memberships])
    with_two_factor = set(
        TOTPDevice.objects.filter(
            user__in=[m.user for m in memberships], confirmed=True
        ).values_list("user_id", flat=True)
    )
    rows = [
        {
            "membership": m,
            "locks": locks.get(m.user.email, []),
            "two_factor": m.user_id in with_two_factor,
            "manageable": access.membership.can_manage(m),
        }
        for m in sorted(memberships, key=lambda m: (ROLE_ORDER[m.role], m.user.email))
    ]
    return {
        "access": access,
        "section": "members",
        "rows": rows,
        "invitations": Invitation.objects.open()
        .filter(organization=organization)
        .select_related("invited_by"),
        "security_form": RequireTwoFactorForm(instance=organization),
        "page_url": reverse("accounts:members", args=[access.agent.public_id]),
        **extra,
    }


ROLE_ORDER = {Role.OWNER: 0, Role.ADMIN: 1, Role.USER: 2}


def member_of(access: AgentAccess, membership_id: int) -> Membership:
    """A member of the page's organization that the viewer may change (404 / 403)."""
    target = get_object_or_404(
        Membership.objects.select_related("user"),
        organization=access.agent.organization,
        pk=membership_id,
    )
    if not access.membership.can_manage(target):
        raise PermissionDenied("You can't change this member.")
    return target


@require_http_methods(["GET"])
@workspace_manager
def members(request: AuthenticatedHttpRequest, access: AgentAccess) -> HttpResponse:
    return render_modal(request, MEMBERS, None, members_context(access))


@require_http_methods(["GET", "POST"])
@workspace_manager
@sudo_required
def member_invite(request: AuthenticatedHttpRequest, access: AgentAccess) -> HttpResponse:
    organization = access.agent.organization
    form = InviteForm(organization, request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        email, role = form.cleaned_data["email"], Role(form.cleaned_data["role"])
        try:
            invite_by_email(request, organization, email, role)
        except SEND_ERRORS as error:
            logger.error("Invitation e-mail not sent: %s", error)
            form.add_error(None, NOT_SENT)
            return render_modal(request, MEMBERS, "invite", members_context(access, form=form), 422)
        record(
            request,
            access,
            AuditAction.CREATE,
            resource=f"Invitation {email}",
            description=f"Invited {email} as {role.label}",
        )
        context = members_context(access)
        return changed(request, MEMBERS, "members-region", context, f"Invitation sent to {email}.")
    status = 422 if form.is_bound else 200
    return render_modal(request, MEMBERS, "invite", members_context(access, form=form), status)


@transaction.atomic
def invite_by_email(
    request: AuthenticatedHttpRequest, organization: Organization, email: str, role: Role
) -> Invitation:
    """A new invitation, e-mailed. When the e-mail cannot be sent, nothing is saved and an
    earlier invitation of the address keeps working (the error is raised for the caller)."""
    invitation, token = Invitation.issue(organization, email, role, request.user)
    send_invitation(request, invitation, token)
    return invitation


def send_invitation(request: AuthenticatedHttpRequest, invitation: Invitation, token: str) -> None:
    link = request.build_absolute_uri(reverse("accounts:invitation", args=[token]))
    context = {"invitation": invitation, "link": link, "inviter": request.user}
    send_mail(
        subject=f"You're invited to join {invitation.organization} on A2V2",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


@require_http_methods(["GET", "POST"])
@workspace_manager
@sudo_required
def member_role(
    request: AuthenticatedHttpRequest, access: AgentAccess, member_id: int
) -> HttpResponse:
    target = member_of(access, member_id)
    form = RoleForm(
        request.POST if request.method == "POST" else None, initial={"role": target.role}
    )
    if form.is_bound and form.is_valid():
        role = Role(form.cleaned_data["role"])
        before = target.get_role_display()
        access.agent.organization.add_member(target.user, role)
        record(
            request,
            access,
            AuditAction.UPDATE,
            resource=f"Member {target.user.email}",
            description=f"Changed {target.user.email}'s role from {before} to {role.label}",
        )
        text = f"{target.user.email} is now {role.label}."
        return changed(request, MEMBERS, "members-region", members_context(access), text)
    status = 422 if form.is_bound else 200
    context = members_context(access, form=form, target=target)
    return render_modal(request, MEMBERS, "role", context, status)


@require_http_methods(["GET", "POST"])
@workspace_manager
@sudo_required
def member_remove(
    request: AuthenticatedHttpRequest, access: AgentAccess, member_id: int
) -> HttpResponse:
    target = member_of(access, member_id)
    if request.method == "POST":
        email = target.user.email
        target.delete()
        record(
            request,
            access,
            AuditAction.DELETE,
            resource=f"Member {email}",
            description=f"Removed {email} from the organization",
        )
        text = f"{email} was removed."
        return changed(request, MEMBERS, "members-region", members_context(access), text)
    return render_modal(request, MEMBERS, "remove", members_context(access, target=target))


@require_http_methods(["GET", "POST"])
@workspace_owner
@sudo_required
def member_transfer(
    request: AuthenticatedHttpRequest, access: AgentAccess, member_id: int
) -> HttpResponse:
    target = member_of(access, member_id)
    form = TransferForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        access.agent.organization.transfer_ownership(target)
        record(
            request,
            access,
            AuditAction.UPDATE,
            resource=f"Member {target.user.email}",
            description=f"Transferred ownership to {target.user.email}; "
            f"{request.user.email} is now Admin",
        )
        # The page is rebuilt for the viewer's new role (Admin).
        access = agent_access(request, access.agent.public_id, manage=True)
        text = f"{target.user.email} is now the Owner."
        return changed(request, MEMBERS, "members-region", members_context(access), text)
    status = 422 if form.is_bound else 200
    context = members_context(access, form=form, target=target)
    return render_modal(request, MEMBERS, "transfer", context, status)


@require_POST
@workspace_owner
@sudo_required
def member_unlock(
    request: AuthenticatedHttpRequest, access: AgentAccess, member_id: int
) -> HttpResponse:
    target = get_object_or_404(
        Membership.objects.select_related("user"),
        organization=access.agent.organization,
        pk=member_id,
    )
    address = request.POST.get("address") or None
    signin.unlock(target.user.email, address)
    where = f" from {address}" if address else ""
    record(
        request,
        access,
        AuditAction.UPDATE,
        resource=f"Member {target.user.email}",
        description=f"Lifted the sign-in lock of {target.user.email}{where}",
    )
    text = f"{target.user.email} can sign in again{where}."
    return changed(request, MEMBERS, "members-region", members_context(access), text)


def _open_invitation(access: AgentAccess, invitation_id: int) -> Invitation:
    """A pending invitation of this workspace (404 for any other)."""
    return get_object_or_404(
        Invitation.objects.open(), organization=access.agent.organization, pk=invitation_id
    )


@require_POST
@workspace_manager
@sudo_required
def invitation_revoke(
    request: AuthenticatedHttpRequest, access: AgentAccess, invitation_id: int
) -> HttpResponse:
    invitation = _open_invitation(access, invitation_id)
    invitation.delete()
    record(
        request,
        access,
        AuditAction.DELETE,
        resource=f"Invitation {invitation.email}",
        description=f"Revoked the invitation of {invitation.email}",
    )
    text = f"The invitation of {invitation.email} was revoked."
    return changed(request, MEMBERS, "members-region", members_context(access), text)


@require_POST
@workspace_manager
@sudo_required
def invitation_resend(
    request: AuthenticatedHttpRequest, access: AgentAccess, invitation_id: int
) -> HttpResponse:
    old = _open_invitation(access, invitation_id)
    try:
        invitation = invite_by_email(request, old.organization, old.email, Role(old.role))
    except SEND_ERRORS as error:
        logger.error("Invitation e-mail not sent: %s", error)
        return not_changed(request, members_context(access), NOT_SENT)
    record(
        request,
        access,
        AuditAction.CREATE,
        resource=f"Invitation {invitation.email}",
        description=f"Sent a new invitation to {invitation.email} "
        f"as {invitation.get_role_display()}",
    )
    text = f"A new invitation was sent to {invitation.email}."
    return changed(request, MEMBERS, "members-region", members_context(access), text)


@require_POST
@workspace_owner
@sudo_required
def require_two_factor(request: AuthenticatedHttpRequest, access: AgentAccess) -> HttpResponse:
    organization = access.agent.organization
    form = RequireTwoFactorForm(request.POST, instance=organization)
    form.is_valid()  # a checkbox: always valid
    form.save()
    state = "on" if organization.require_two_factor else "off"
    record(
        request,
        access,
        AuditAction.UPDATE,
        resource=f"Organization {organization}",
        description=f'Turned {state} "Require two-factor for Owners and Admins"',
    )
    text = (
        "Owners and Admins now need two-factor authentication."
        if organization.require_two_factor
        else "Two-factor is no longer required."
    )
    return changed(request, MEMBERS, "members-region", members_context(access), text)


# ---- Agents -------------------------------------------------------------------------------


def agents_context(access: AgentAccess, **extra: Any) -> dict[str, Any]:
    return {
        "access": access,
        "section": "agents",
        "agents": Agent.objects.filter(organization=access.agent.organization),
        "page_url": reverse("accounts:agents", args=[access.agent.public_id]),
        **extra,
    }


@require_http_methods(["GET"])
@workspace_manager
def agents(request: AuthenticatedHttpRequest, access: AgentAccess) -> HttpResponse:
    return render_modal(request, AGENTS, None, agents_context(access))


@require_http_methods(["GET", "POST"])
@workspace_manager
def agent_new(request: AuthenticatedHttpRequest, access: AgentAccess) -> HttpResponse:
    form = AgentForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        agent = Agent.objects.create(
            organization=access.agent.organization, name=form.cleaned_data["name"]
        )
        AuditEvent.record(
            action=AuditAction.CREATE,
            resource=f"Agent {agent.public_id}",
            description=f'Created agent "{agent.name}"',
            organization=agent.organization,
            agent=agent,
            request=request,
        )
        text = f'Agent "{agent.name}" created.'
        return changed(request, AGENTS, "agents-region", agents_context(access), text)
    status = 422 if form.is_bound else 200
    return render_modal(request, AGENTS, "agent-form", agents_context(access, form=form), status)


@require_http_methods(["GET", "POST"])
@workspace_manager
def agent_rename(
    request: AuthenticatedHttpRequest, access: AgentAccess, other_id: str
) -> HttpResponse:
    agent = get_object_or_404(
        Agent.objects.filter(organization=access.agent.organization), public_id=other_id
    )
    data = request.POST if request.method == "POST" else None
    form = AgentForm(data, initial={"name": agent.name})
    if form.is_bound and form.is_valid():
        before, agent.name = agent.name, form.cleaned_data["name"]
        agent.save(update_fields=["name"])
        AuditEvent.record(
            action=AuditAction.UPDATE,
            resource=f"Agent {agent.public_id}",
            description=f'Renamed agent "{before}" to "{agent.name}"',
            organization=agent.organization,
            agent=agent,
            request=request,
        )
        access = agent_access(
            request, access.agent.public_id, manage=True
        )  # the crumb shows the new name
        text = f'Agent renamed to "{agent.name}".'
        return changed(request, AGENTS, "agents-region", agents_context(access), text)
    status = 422 if form.is_bound else 200
    context = agents_context(access, form=form, target=agent)
    return render_modal(request, AGENTS, "agent-form", context, status)
