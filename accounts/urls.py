from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.i18n import JavaScriptCatalog

from accounts import member_views, passkey_views, security_views, views

agent = "agents/<str:agent_id>/"

app_name = "accounts"

urlpatterns = [
    path("", views.home, name="home"),
    path(agent, views.agent_home, name="agent-home"),
    path(f"{agent}audit-logs/", views.audit_logs, name="audit-logs"),
    path(f"{agent}audit-logs/export/", views.audit_export, name="audit-logs-export"),
    # Signing in and out, passwords
    path("login/", security_views.SignInView.as_view(), name="login"),
    path("login/code/", security_views.sign_in_code, name="login-code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        security_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        security_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        security_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # Your account
    path("account/", security_views.account, name="account"),
    path("account/password/", security_views.PasswordChangeView.as_view(), name="password_change"),
    path("account/two-factor/", security_views.two_factor_setup, name="two-factor-setup"),
    path(
        "account/two-factor/recovery-codes/",
        security_views.recovery_codes_new,
        name="recovery-codes-new",
    ),
    path("account/two-factor/turn-off/", security_views.two_factor_off, name="two-factor-off"),
    path("account/passkeys/", passkey_views.passkeys_page, name="passkeys"),
    path(
        "account/passkeys/add/begin/",
        passkey_views.PasskeyRegistrationBegin.as_view(),
        name="passkey-add-begin",
    ),
    path(
        "account/passkeys/add/complete/",
        passkey_views.PasskeyRegistrationComplete.as_view(),
        name="passkey-add-complete",
    ),
    path(
        "account/passkeys/<int:passkey_id>/remove/",
        passkey_views.passkey_remove,
        name="passkey-remove",
    ),
    path("login/passkey/begin/", passkey_views.PasskeySignInBegin.as_view(), name="passkey-begin"),
    path(
        "login/passkey/complete/",
        passkey_views.PasskeySignInComplete.as_view(),
        name="passkey-complete",
    ),
    # The passkey scripts' words (they call gettext()).
    path(
        "passkeys/jsi18n/",
        JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]),
        name="passkeys-jsi18n",
    ),
    path("invitations/<str:token>/", security_views.invitation, name="invitation"),
    # Members & roles, Agents (Owners and Admins)
    path(f"{agent}members/", member_views.members, name="members"),
    path(f"{agent}members/invite/", member_views.member_invite, name="member-invite"),
    path(f"{agent}members/<int:member_id>/role/", member_views.member_role, name="member-role"),
    path(
        f"{agent}members/<int:member_id>/remove/", member_views.member_remove, name="member-remove"
    ),
    path(
        f"{agent}members/<int:member_id>/transfer/",
        member_views.member_transfer,
        name="member-transfer",
    ),
    path(
        f"{agent}members/<int:member_id>/unlock/", member_views.member_unlock, name="member-unlock"
    ),
    path(
        f"{agent}members/invitations/<int:invitation_id>/revoke/",
        member_views.invitation_revoke,
        name="invitation-revoke",
    ),
    path(
        f"{agent}members/invitations/<int:invitation_id>/resend/",
        member_views.invitation_resend,
        name="invitation-resend",
    ),
    path(
        f"{agent}members/require-two-factor/",
        member_views.require_two_factor,
        name="require-two-factor",
    ),
    path(f"{agent}agents/", member_views.agents, name="agents"),
    path(f"{agent}agents/new/", member_views.agent_new, name="agent-new"),
    path(f"{agent}agents/<str:other_id>/rename/", member_views.agent_rename, name="agent-rename"),
]
