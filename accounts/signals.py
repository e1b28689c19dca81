"""Sign-ins and sign-outs go into each of the user's organizations' audit logs."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.models import AuditAction, AuditEvent, AuditStatus, Organization, User


def _record_for_each_organization(
    request: HttpRequest | None, user: User, action: AuditAction, description: str
) -> None:
    for organization in Organization.objects.for_user(user):
        AuditEvent.record(
            action=action,
            resource="Session",
            description=description,
            organization=organization,
            request=request,
            user=user,
        )


@receiver(user_logged_in)
def record_login(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    _record_for_each_organization(request, user, AuditAction.LOGIN, "Signed in")


@receiver(user_logged_out)
def record_logout(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        _record_for_each_organization(request, user, AuditAction.LOGOUT, "Signed out")


@receiver(user_login_failed)
def record_failed_login(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    # Recorded only for known accounts, so the log cannot be flooded with made-up emails.
    email = str(credentials.get("username") or credentials.get("email") or "").lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        return
    for organization in Organization.objects.for_user(user):
        AuditEvent.record(
            action=AuditAction.LOGIN,
            resource="Session",
            description="Sign-in failed: wrong password",
            organization=organization,
            request=request,
            user=user,
            status=AuditStatus.FAILURE,
        )
