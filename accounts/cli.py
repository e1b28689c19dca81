"""Argument checks and lookups shared by the management commands (accounts' and
apikeys'): each refuses bad input with a one-line CommandError."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.core.validators import validate_email

from accounts.models import Agent, Organization, User


def clean_email(value: str) -> str:
    email = value.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise CommandError(f"{value!r} is not a valid email address.") from None
    return email


def clean_name(value: str, what: str) -> str:
    name = value.strip()
    if not name or len(name) > 100:
        raise CommandError(f"The {what} name must be 1 to 100 characters.")
    return name


def find_agent(agent_id: str) -> Agent:
    try:
        return Agent.objects.select_related("organization").get(public_id=agent_id)
    except Agent.DoesNotExist:
        raise CommandError(f"No agent with id {agent_id!r}.") from None


def clean_password(password: str, email: str) -> str:
    """Django's password validators (AUTH_PASSWORD_VALIDATORS), as on the pages."""
    try:
        validate_password(password, User(email=email))
    except ValidationError as error:
        raise CommandError(f"Password refused: {' '.join(error.messages)}") from None
    return password


def find_organization(value: str) -> Organization:
    """By numeric id or by name (which must then be unique)."""
    lookup = {"pk": int(value)} if value.isdigit() else {"name": value}
    matches = list(Organization.objects.filter(**lookup)[:2])
    if not matches:
        raise CommandError(f"No organization {value!r}.")
    if len(matches) > 1:
        raise CommandError(f"Several organizations are named {value!r}; use the numeric id.")
    return matches[0]
