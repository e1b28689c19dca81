"""Django's `sendtestemail`, saying where the e-mail went, and why in one line when it could
not be sent (Django's own ends with a traceback)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import sendtestemail

from accounts.mailing import SEND_ERRORS


def destination(alias: str) -> str:
    """Where e-mail goes with the current settings, in words."""
    mailer = settings.MAILERS[alias]
    backend = mailer["BACKEND"]
    if backend.endswith("console.EmailBackend"):
        return "the console"
    if backend.endswith("smtp.EmailBackend"):
        options = mailer.get("OPTIONS", {})
        return f"the SMTP server {options.get('host')}:{options.get('port')}"
    return backend


class Command(sendtestemail.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        where = destination(options.get("using") or "default")
        try:
            super().handle(*args, **options)
        except SEND_ERRORS as error:
            reason = str(error) or error.__class__.__name__
            raise CommandError(f"E-mail not sent to {where}: {reason}") from error
        recipients = ", ".join(options["email"]) or "the site's admins or managers"
        if where == "the console":
            where += " (printed above; EMAIL_BACKEND=console sends nothing)"
        self.stdout.write(f"Test e-mail to {recipients} handed to {where}.")
