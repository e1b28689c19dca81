"""System checks for the sign-in and e-mail settings (`manage.py check`, and `check --deploy`
for where e-mail goes)."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

POSITIVE = (
    "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS",
    "LOGIN_FAILURES_PER_ADDRESS",
    "LOGIN_LOCKOUT_MINUTES",
    "LOGIN_ACCOUNT_FREE_FAILURES",
    "LOGIN_ACCOUNT_MAX_DELAY_SECONDS",
    "INVITATION_DAYS",
    "PASSWORD_RESETS_PER_ADDRESS",
    "PASSWORD_RESETS_PER_EMAIL",
)


@register(Tags.security)
def check_sign_in_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    problems = [
        Error(f"{name} must be at least 1.", id="accounts.E001")
        for name in POSITIVE
        if getattr(settings, name) < 1
    ]
    if settings.SUDO_MODE_MINUTES < 0:
        problems.append(
            Error("SUDO_MODE_MINUTES must be 0 (ask every time) or more.", id="accounts.E002")
        )
    options = settings.MAILERS["default"].get("OPTIONS", {})
    if options.get("use_tls") and options.get("use_ssl"):
        problems.append(
            Error(
                "EMAIL_USE_TLS and EMAIL_USE_SSL are both on.",
                hint="STARTTLS (port 587): EMAIL_USE_TLS=true. Implicit TLS (port 465): "
                "EMAIL_USE_SSL=true and EMAIL_USE_TLS=false.",
                id="accounts.E003",
            )
        )
    return problems


CONSOLE_BACKEND = "django.core.mail.backends.console.EmailBackend"


@register(Tags.security)
def check_email_reaches_someone(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Invitations and password-reset links are e-mailed. With production settings (HTTPS on,
    DEBUG off) they must leave the machine: said on every command (`migrate` at each
    upgrade), not only by `check --deploy` (Django's own mail.E001). `bin/run`, a local demo
    without HTTPS, keeps the console quietly."""
    backend = settings.MAILERS["default"]["BACKEND"]
    if settings.DEBUG or not settings.HTTPS or backend != CONSOLE_BACKEND:
        return []
    return [
        Warning(
            "E-mail is printed to the console (EMAIL_BACKEND=console) with production "
            "settings: invitations and password-reset links reach nobody.",
            hint="Set EMAIL_BACKEND=smtp and EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, "
            "EMAIL_HOST_PASSWORD, DEFAULT_FROM_EMAIL (docs/deploy.md, E-mail), then run "
            "`manage.py sendtestemail you@example.com`.",
            id="accounts.W001",
        )
    ]


@register(Tags.security, deploy=True)
def check_sender_address(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    if settings.MAILERS["default"]["BACKEND"] == CONSOLE_BACKEND:
        return []  # Django's mail.E001 says the console is not for production
    _, at, domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].lower().rpartition("@")
    if at and "." in domain and not domain.endswith((".localhost", ".local")):
        return []
    return [
        Warning(
            f"DEFAULT_FROM_EMAIL is {settings.DEFAULT_FROM_EMAIL!r}: mail servers refuse "
            "or junk a sender address without a real domain.",
            hint="Set DEFAULT_FROM_EMAIL to an address of your domain that your SMTP "
            'server may send as, e.g. "A2V2 <no-reply@a2v2.example.com>".',
            id="accounts.W002",
        )
    ]
