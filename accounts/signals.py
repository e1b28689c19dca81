"""Sign-ins, sign-outs, failed sign-ins and sign-in locks go into each of the user's
organizations' audit logs."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts import signin
from accounts.models import AuditAction, AuditEvent, AuditStatus, Organization, User

FAILED_PASSWORD = {
    "sudo": None,  # sudo mode records its own event (accounts/sudo.py)
    "password-change": "Password change failed: wrong current password",
}


def _record_for_each_organization(
    request: HttpRequest | None,
    user: User,
    action: AuditAction,
    description: str,
    status: AuditStatus = AuditStatus.SUCCESS,
) -> None:
    for organization in Organization.objects.for_user(user):
        AuditEvent.record(
            action=action,
            resource="Session",
            description=description,
            organization=organization,
            request=request,
            user=user,
            status=status,
        )


@receiver(user_logged_in)
def record_login(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    _record_for_each_organization(request, user, AuditAction.LOGIN, "Signed in")


@receiver(user_logged_out)
def record_logout(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        _record_for_each_organization(request, user, AuditAction.LOGOUT, "Signed out")


def _known_user(credentials: dict[str, Any]) -> User | None:
    # Recorded only for known accounts, so the log cannot be flooded with made-up emails.
    email = str(credentials.get("username") or credentials.get("email") or "").strip().lower()
    return User.objects.filter(email=email).first() if email else None


@receiver(user_login_failed)
def record_failed_login(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    """Runs after django-axes has counted the failure (axes is installed first)."""
    user = _known_user(credentials)
    if user is None or getattr(request, "axes_locked_out", False):
        return  # a lock is recorded by record_lockout
    purpose = credentials.get("purpose")
    description = FAILED_PASSWORD.get(purpose, "Sign-in failed: wrong password")
    if description is None:
        return
    _record_for_each_organization(
        request, user, AuditAction.LOGIN, description, AuditStatus.FAILURE
    )
    pace = signin.account_pace(user.email)
    if pace.failures == settings.LOGIN_ACCOUNT_FREE_FAILURES + 1:
        _record_for_each_organization(
            request,
            user,
            AuditAction.LOGIN,
            f"Sign-ins to this account slowed down after {pace.failures} failed attempts "
            f"in {signin.lockout_minutes()} minutes",
            AuditStatus.FAILURE,
        )


@receiver(user_locked_out)
def record_lockout(
    sender: Any, request: Any, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    user = _known_user({"username": username})
    if user is None:
        return
    address = ip_address or "an unknown address"
    if getattr(request, "axes_failures_since_start", None) == settings.AXES_FAILURE_LIMIT:
        description = (
            f"Sign-in locked for {signin.lockout_minutes()} minutes after too many failed "
            f"attempts from {address}"
        )
    else:
        description = f"Sign-in refused: locked out after too many failed attempts from {address}"
    _record_for_each_organization(
        request, user, AuditAction.LOGIN, description, AuditStatus.FAILURE
    )
