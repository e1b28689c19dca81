"""System checks for the sign-in and e-mail settings (`manage.py check`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

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
