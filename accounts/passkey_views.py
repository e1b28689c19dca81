"""Passkey endpoints: django-otp-webauthn's own views (JSON, called by its scripts), fitted
to our sign-in in two places.

- **Adding a passkey** needs a fresh sudo-mode confirmation (password and code) where the
  library asks django-otp whether the session was verified with a second factor; we run no
  OTPMiddleware, so that question is answered by sudo mode.
- **Signing in with one** is step two of a sign-in, like a code: the account is the one
  whose password was just typed (the pending sign-in in the session), never
  `request.user`, and success ends in the same `complete_sign_in` as a code (session, sudo
  confirmation, known browser). Failures are audited and count against the same five tries.

Passwordless sign-in (a passkey alone) stays off: it would step around the password limits
of accounts/signin.py.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST
from django_otp_webauthn import exceptions
from django_otp_webauthn.models import AbstractWebAuthnCredential
from django_otp_webauthn.views import (
    BeginCredentialAuthenticationView,
    BeginCredentialRegistrationView,
    CompleteCredentialAuthenticationView,
    CompleteCredentialRegistrationView,
)

from a2v2.http import AuthenticatedHttpRequest
from accounts import passkeys, security_views, sudo, twofactor
from accounts.models import AuditAction, AuditStatus, User
from accounts.security_views import PENDING, PENDING_MAX_FAILURES, record_for_user


class TwoFactorFirst(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_code = "two_factor_first"
    default_detail = "Turn on two-factor authentication before adding a passkey."


class SignInExpired(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_code = "sign_in_expired"
    default_detail = "Your sign-in took too long. Please sign in again."


class RegistrationMixin:
    request: HttpRequest
    # Said by the library when the session is not "verified" (here: sudo mode has lapsed).
    messages = {
        "user_not_verified": "Confirm your password again to add a passkey: reload the page."
    }

    def initial(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        if request.user.is_authenticated:
            # The library's "verified with a second factor" is, here, sudo mode.
            request.user.is_verified = lambda: sudo.is_fresh(request)  # type: ignore[union-attr]
        super().initial(request, *args, **kwargs)  # type: ignore[misc]

    def check_can_register(self) -> None:
        # The library has already refused a session whose sudo confirmation lapsed.
        if not twofactor.has_two_factor(self.request.user):  # type: ignore[arg-type]
            raise TwoFactorFirst()


class PasskeyRegistrationBegin(RegistrationMixin, BeginCredentialRegistrationView):
    pass


class PasskeyRegistrationComplete(RegistrationMixin, CompleteCredentialRegistrationView):
    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(*args, **kwargs)
        user: User = self.request.user  # type: ignore[assignment]
        record_for_user(self.request, user, AuditAction.UPDATE, "Added a passkey")
        return response


class PendingSignInMixin:
    """The ceremony is for the account whose password was just typed."""

    request: HttpRequest

    def get_user(self) -> User | None:
        found = security_views.pending_sign_in(self.request)
        return found[1] if found else None

    def check_can_authenticate(self) -> None:
        if self.get_user() is None:
            raise SignInExpired()


class PasskeySignInBegin(PendingSignInMixin, BeginCredentialAuthenticationView):
    pass


class PasskeySignInComplete(PendingSignInMixin, CompleteCredentialAuthenticationView):
    next_url = ""

    def complete_auth(self, device: AbstractWebAuthnCredential) -> None:
        pending = self.request.session.pop(PENDING)
        self.signed_in, self.backend = device.user, pending["backend"]
        self.next_url = pending["next"]

    def get_success_url(self) -> str:
        return self.next_url

    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(*args, **kwargs)
        security_views.complete_sign_in(self.request, response, self.signed_in, self.backend)
        record_for_user(self.request, self.signed_in, AuditAction.LOGIN, "Signed in with a passkey")
        return response

    def handle_exception(self, exc: Exception) -> HttpResponse:
        user = self.get_user()
        if isinstance(exc, exceptions.OTPWebAuthnApiError) and user is not None:
            failed = f"Sign-in failed: passkey not accepted ({exc.code})"
            record_for_user(self.request, user, AuditAction.LOGIN, failed, AuditStatus.FAILURE)
            pending = self.request.session[PENDING]
            pending["failures"] += 1
            self.request.session[PENDING] = pending
            if pending["failures"] >= PENDING_MAX_FAILURES:
                del self.request.session[PENDING]
                return JsonResponse(
                    {"detail": "Too many failed attempts. Please sign in again.", "code": "ended"},
                    status=403,
                )
        return super().handle_exception(exc)


@login_required
@require_http_methods(["GET"])
@sudo.sudo_required
def passkeys_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Your passkeys, and Add a passkey (its script talks to the endpoints above while this
    page's sudo confirmation is fresh)."""
    context = {
        "passkeys": passkeys.of(request.user),
        "two_factor": twofactor.has_two_factor(request.user),
        "config": {
            "beginRegistrationUrl": reverse("accounts:passkey-add-begin"),
            "completeRegistrationUrl": reverse("accounts:passkey-add-complete"),
            "csrfToken": get_token(request),
        },
    }
    response = render(request, "accounts/passkeys.html", context)
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
@sudo.sudo_required
def passkey_remove(request: AuthenticatedHttpRequest, passkey_id: int) -> HttpResponse:
    removed = passkeys.remove(request.user, passkey_id)
    if removed is not None:
        record_for_user(
            request, request.user, AuditAction.UPDATE, f"Removed the passkey {removed.name}"
        )
        messages.success(request, f"The passkey {removed.name} was removed.")
    return redirect("accounts:passkeys")
