"""System checks for the contacts settings (`manage.py check`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from contacts.phones import is_known_region


@register()
def check_contact_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    problems = []
    if not is_known_region(settings.CONTACTS_DEFAULT_REGION):
        problems.append(
            Error(
                f"CONTACTS_DEFAULT_REGION={settings.CONTACTS_DEFAULT_REGION!r} is not a region "
                "phone numbers know.",
                hint="Use an ISO 3166 country code such as US, GB, IN or DE.",
                id="contacts.E001",
            )
        )
    if settings.CONTACT_FILE_MAX_BYTES < 1:
        problems.append(
            Error(
                "CONTACT_FILE_MAX_BYTES must be a positive number of bytes.",
                id="contacts.E002",
            )
        )
    return problems
