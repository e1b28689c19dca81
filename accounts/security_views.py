"""Signing in (password, then the two-factor code), the account page, two-factor enrolment,
password change and reset, and invitations.

A member with two-factor is not signed in after the password: the session only remembers,
for a few minutes, who typed it; `login()` happens once the code is right.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm
from django.forms import ValidationError
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from a2v2.http import AuthenticatedHttpRequest, client_ip_str
from accounts import passkeys, resets, signin, sudo, twofactor
from accounts.forms import EnrolForm, JoinForm, SignInForm, TwoFactorForm
from accounts.models import (
    AuditAction,
    AuditEvent,
    AuditStatus,
    Invitation,
    Membership,
    Organization,
    User,
)
from accounts.tasks import answer_reset_request

logger = logging.getLogger(__name__)

PENDING = "pending_sign_in"
PENDING_SECONDS = 300
PENDING_MAX_FAILURES = 5
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def record_for_user(
    request: HttpRequest,
    user: User,
    action: AuditAction,
    description: str,
    status: AuditStatus = AuditStatus.SUCCESS,
) -> None:
    """An event in each of the user's organizations' audit logs."""
    for organization in Organization.objects.for_user(user):
        AuditEvent.record(
            action=action,
            resource="Session" if action in (AuditAction.LOGIN, AuditAction.LOGOUT) else "Account",
            description=description,
            organization=organization,
            request=request,
            user=user,
            status=status,
        )


# ---- signing in ---------------------------------------------------------------------------


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    redirect_authenticated_user = True

    def form_valid(self, form: SignInForm) -> HttpResponse:
        user = form.get_user()
        if not twofactor.has_two_factor(user):
            return finish_sign_in(self.request, user, self.get_success_url())
        self.request.session[PENDING] = {
            "user": user.pk,
            "backend": user.backend,
            "next": self.get_success_url(),
            "at": int(time.time()),
            "failures": 0,
        }
        return redirect("accounts:login-code")


def finish_sign_in(
    request: HttpRequest, user: User, next_url: str, backend: str | None = None
) -> HttpResponse:
    response = redirect(next_url)
    complete_sign_in(request, response, user, backend)
    return response


def complete_sign_in(
    request: HttpRequest, response: HttpResponse, user: User, backend: str | None = None
) -> None:
    auth_login(request, user, backend=backend)
    sudo.mark_confirmed(request)  # a fresh sign-in counts as a confirmation
    signin.remember_browser(request, response, user.email)


def pending_sign_in(request: HttpRequest) -> tuple[dict[str, Any], User] | None:
    pending = request.session.get(PENDING)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        request.session.pop(PENDING, None)
        return None
    user = User.objects.filter(pk=pending["user"], is_active=True).first()
    return (pending, user) if user else None


@require_http_methods(["GET", "POST"])
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """Step two: the code from the authenticator app, or a recovery code."""
    found = pending_sign_in(request)
    if found is None:
        messages.error(request, "Your sign-in took too long. Please sign in again.")
        return redirect("accounts:login")
    pending, user = found
    form = TwoFactorForm(user, request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        del request.session[PENDING]
        response = finish_sign_in(request, user, pending["next"], pending["backend"])
        if twofactor.is_recovery_code(form.device):
            used_recovery_code(request, user)
        return response
    if form.is_bound:
        failed = "Sign-in failed: wrong two-factor code"
        record_for_user(request, user, AuditAction.LOGIN, failed, AuditStatus.FAILURE)
        pending["failures"] += 1
        request.session[PENDING] = pending
        if pending["failures"] >= PENDING_MAX_FAILURES:
            del request.session[PENDING]
            messages.error(request, "Too many wrong codes. Please sign in again.")
            return redirect("accounts:login")
    status = 422 if form.is_bound else 200
    context = {
        "form": form,
        "passkeys": passkeys.count_for(user),
        "passkey_config": {
            "beginAuthenticationUrl": reverse("accounts:passkey-begin"),
            "completeAuthenticationUrl": reverse("accounts:passkey-complete"),
            "nextFieldSelector": "input[name='next']",
            "csrfToken": get_token(request),
        },
    }
    response = render(request, "registration/sign_in_code.html", context, status=status)
    add_never_cache_headers(response)
    return response


def used_recovery_code(request: HttpRequest, user: User) -> None:
    left = twofactor.recovery_codes_left(user)
    record_for_user(
        request, user, AuditAction.LOGIN, f"Signed in with a recovery code ({left} left)"
    )
    messages.warning(
        request,
        f"You signed in with a recovery code; {left} left. "
        "If you lost your authenticator, set it up again on Your account.",
    )


# ---- your account -------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def account(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    context = {
        "memberships": Membership.objects.filter(user=user).select_related("organization"),
        "two_factor": twofactor.has_two_factor(user),
        "recovery_codes_left": twofactor.recovery_codes_left(user),
        "required_by": twofactor.requiring_organizations(user),
        "passkeys": passkeys.of(user),
    }
    return render(request, "accounts/account.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@sudo.sudo_required
def two_factor_setup(request: AuthenticatedHttpRequest) -> HttpResponse:
    device = twofactor.pending_authenticator(request.user)
    form = EnrolForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        codes = twofactor.confirm_authenticator(device, form.cleaned_data["code"])
        if codes is not None:
            record_for_user(
                request, request.user, AuditAction.UPDATE, "Turned on two-factor authentication"
            )
            return recovery_codes_page(request, codes, first=True)
        form.add_error("code", twofactor.wrong_code_message(request.user, device))
    context = {
        "form": form,
        "qr_code": twofactor.qr_code_svg(device),
        "setup_key": twofactor.setup_key(device),
        "required_by": twofactor.requiring_organizations(request.user),
    }
    response = render(
        request, "accounts/two_factor_setup.html", context, status=422 if form.is_bound else 200
    )
    add_never_cache_headers(response)
    return response


def recovery_codes_page(
    request: AuthenticatedHttpRequest, codes: list[str], first: bool = False
) -> HttpResponse:
    """Shown once, in this response only (never stored anywhere readable, never cached)."""
    context = {"codes": codes, "codes_text": "\n".join(codes), "first": first}
    response = render(request, "accounts/recovery_codes.html", context)
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
@sudo.sudo_required
def recovery_codes_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    if not twofactor.has_two_factor(request.user):
        return redirect("accounts:account")
    codes = twofactor.new_recovery_codes(request.user)
    record_for_user(request, request.user, AuditAction.UPDATE, "Generated new recovery codes")
    return recovery_codes_page(request, codes)


@login_required
@require_http_methods(["GET", "POST"])
@sudo.sudo_required
def two_factor_off(request: AuthenticatedHttpRequest) -> HttpResponse:
    required_by = twofactor.requiring_organizations(request.user)
    if request.method == "POST" and not required_by:
        twofactor.turn_off(request.user)
        record_for_user(
            request, request.user, AuditAction.UPDATE, "Turned off two-factor authentication"
        )
        messages.success(request, "Two-factor authentication is off.")
        return redirect("accounts:account")
    return render(request, "accounts/two_factor_off.html", {"required_by": required_by})


# ---- passwords ----------------------------------------------------------------------------


class CheckedPasswordChangeForm(PasswordChangeForm):
    """The old password goes through authenticate(), so django-axes counts wrong ones: a
    borrowed session cannot be used to guess the password here either."""

    def __init__(self, user: User, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        from django.contrib.auth import authenticate

        old = self.cleaned_data["old_password"]
        checked = authenticate(
            self.request, username=self.user.email, password=old, purpose="password-change"
        )
        if getattr(self.request, "axes_locked_out", False):
            raise ValidationError(signin.lockout_message())
        if checked is None or checked.pk != self.user.pk:
            raise ValidationError(self.error_messages["password_incorrect"], "password_incorrect")
        return old


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = CheckedPasswordChangeForm
    success_url = reverse_lazy("accounts:account")

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form: CheckedPasswordChangeForm) -> HttpResponse:
        form.save()
        update_session_auth_hash(self.request, form.user)  # other sessions are signed out
        record_for_user(self.request, form.user, AuditAction.UPDATE, "Changed password")
        messages.success(self.request, "Your password was changed.")
        return redirect(self.success_url)


class PasswordResetView(auth_views.PasswordResetView):
    """The "Forgot your password?" page: limited per client address and per address typed
    (accounts/resets.py), answered the same whether or not an account has the address."""

    success_url = reverse_lazy("accounts:password_reset_done")
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        email = form.cleaned_data["email"]
        client = client_ip_str(self.request) or "unknown"
        admission = resets.admit(client, email)
        if admission.outcome is resets.Outcome.UNAVAILABLE:
            return self.refused(form, resets.UNAVAILABLE_MESSAGE, 503, admission.retry_after)
        # Every request queues the same task, account or not: the e-mail and the audit
        # events are the worker's, so the page answers in the same time either way.
        queue_reset_answer(self.request, email, admission.outcome, client)
        if admission.outcome is resets.Outcome.ADDRESS_LIMITED:
            message = resets.address_limited_message(admission.retry_after)
            return self.refused(form, message, 429, admission.retry_after)
        return redirect(self.success_url)

    def refused(
        self, form: PasswordResetForm, message: str, status: int, retry_after: int
    ) -> HttpResponse:
        form.add_error(None, message)
        response = self.render_to_response(self.get_context_data(form=form), status=status)
        response["Retry-After"] = str(retry_after)
        return response


def queue_reset_answer(
    request: HttpRequest, email: str, outcome: resets.Outcome, client: str
) -> None:
    arguments = (email, outcome.value, client, request.get_host(), request.is_secure())
    try:
        answer_reset_request.enqueue(*arguments)
    except Exception as error:  # the task backend is down (Redis): answer here instead
        logger.warning("Could not queue a password reset (%s: %s)", type(error).__name__, error)
        answer_reset_request.call(*arguments)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            "timeout_minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
            "resets_per_email": settings.PASSWORD_RESETS_PER_EMAIL,
        }


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        response = super().form_valid(form)
        # Whoever holds the mailbox is the rightful user: lift their sign-in locks.
        signin.unlock(form.user.email)
        record_for_user(
            self.request, form.user, AuditAction.UPDATE, "Reset password with an e-mailed link"
        )
        return response


# ---- invitations --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Join an organization from an e-mailed link: with a new account, or signed in as the
    invited address."""
    invitation = Invitation.find(token)
    if invitation is None or not invitation.is_usable:
        status = 404 if invitation is None else 410
        return render(request, "accounts/invitation.html", {"invitation": None}, status=status)
    user: User | None = request.user if request.user.is_authenticated else None  # type: ignore[assignment]
    existing = User.objects.filter(email__iexact=invitation.email).first()
    context: dict[str, Any] = {"invitation": invitation, "existing": existing, "token": token}
    if user is not None and user.email.lower() != invitation.email:
        return render(request, "accounts/invitation.html", {**context, "wrong_user": user})
    if user is None and existing is not None:
        return render(request, "accounts/invitation.html", context)  # "sign in to accept"
    form = JoinForm(invitation.email, request.POST or None) if user is None else None
    if request.method == "POST" and (form is None or form.is_valid()):
        return join(request, invitation, user or form.create_user())  # type: ignore[union-attr]
    status = 422 if form is not None and form.is_bound else 200
    return render(request, "accounts/invitation.html", {**context, "form": form}, status=status)


def join(request: HttpRequest, invitation: Invitation, user: User) -> HttpResponse:
    try:
        membership = invitation.accept(user)
    except ValueError as error:
        return render(
            request, "accounts/invitation.html", {"invitation": None, "error": error}, status=410
        )
    AuditEvent.record(
        action=AuditAction.CREATE,
        resource=f"Member {user.email}",
        description=f"Joined as {membership.get_role_display()} (invited by "
        f"{invitation.invited_by.email if invitation.invited_by else 'a former member'})",
        organization=invitation.organization,
        request=request,
        user=user,
    )
    if not request.user.is_authenticated:
        response = finish_sign_in(request, user, reverse("accounts:home"), MODEL_BACKEND)
    else:
        response = redirect("accounts:home")
    messages.success(request, f"Welcome to {invitation.organization}.")
    return response
