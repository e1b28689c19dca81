"""One set of rules for a contact, whichever door it comes through: the API, the Add
Contact form or a CSV row.

Input uses the API's field names (`mobileNumber`, `ownerEmail`, `customFields`); errors
come back under the same names (`customFields.<key>` for a custom field), so the API
answers 422 with them, the form puts them beside its inputs and the CSV preview lists them
as the row's reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import models

from a2v2.envelope import ApiError
from accounts.models import Agent, User
from contacts.models import Contact, CustomField, Gender, Source, Stage, Status
from contacts.phones import normalize_mobile

EXTERNAL_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~:@+=-]{0,99}$")
# Path words of the contacts API that an external reference id would shadow.
RESERVED_REFERENCES = {"schema", "mantisid"}
EMAIL_OR_MOBILE = "Give at least an email or a mobile number."
FIELDS = (
    "externalReferenceId",
    "name",
    "email",
    "mobileNumber",
    "gender",
    "status",
    "stage",
    "ownerEmail",
    "customFields",
    "source",
)
_email_validator = EmailValidator()


@dataclass
class Cleaned:
    values: dict[str, Any] = field(default_factory=dict)  # Contact field name → value
    errors: dict[str, list[str]] = field(default_factory=dict)  # API field name → messages

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


def choice(value: str, choices: type[models.TextChoices], *, default: str = "") -> str:
    """The canonical choice for `value`, matched without regard to case, spaces or `_`."""
    wanted = " ".join(value.replace("_", " ").split()).lower()
    if not wanted:
        return default
    for option in choices.values:
        if option.lower() == wanted:
            return option
    raise ValueError(f"Must be one of: {', '.join(choices.values)}.")


class ContactRules:
    """Validates contact input for one agent. Loads the agent's custom fields once and its
    organization's members on first need, so a CSV of 100,000 rows costs two queries."""

    def __init__(self, agent: Agent, *, region: str | None = None) -> None:
        self.agent = agent
        self.region = region
        self.custom_fields = {f.key: f for f in CustomField.objects.for_agent(agent)}
        self._members: dict[str, User] | None = None

    def _member_map(self) -> dict[str, User]:
        if self._members is None:
            users = User.objects.filter(memberships__organization_id=self.agent.organization_id)
            self._members = {user.email.lower(): user for user in users.order_by("email")}
        return self._members

    def member(self, email: str) -> User | None:
        return self._member_map().get(email.strip().lower())

    def member_emails(self) -> list[str]:
        return list(self._member_map())

    def clean(self, data: Mapping[str, Any], *, from_text: bool = False) -> Cleaned:
        """Every editable field from `data`; a missing one takes its empty or default
        value (a PUT replaces what it does not send). Text inputs set `from_text`."""
        result = Cleaned()
        text = {name: _text(data.get(name)) for name in FIELDS if name != "customFields"}
        for name, value in text.items():
            if value is _NOT_TEXT:
                result.fail(name, "Must be text.")
                text[name] = ""
        checks = {
            "externalReferenceId": ("external_reference_id", self._reference),
            "name": ("name", self._name),
            "email": ("email", self._email),
            "mobileNumber": ("mobile_number", self._mobile),
            "gender": ("gender", lambda v: choice(v, Gender)),
            "status": ("status", lambda v: choice(v, Status, default=Status.ACTIVE)),
            "stage": ("stage", lambda v: choice(v, Stage)),
            "ownerEmail": ("owner", self._owner),
            "source": ("source", lambda v: choice(v, Source, default=Source.API)),
        }
        for name, (attribute, check) in checks.items():
            try:
                result.values[attribute] = check(text[name])
            except ValueError as error:
                result.fail(name, str(error))
        if not text["email"] and not text["mobileNumber"]:
            result.fail("email", EMAIL_OR_MOBILE)
            result.fail("mobileNumber", EMAIL_OR_MOBILE)
        result.values["custom_fields"] = self._custom(data.get("customFields"), result, from_text)
        return result

    def _reference(self, value: str) -> str:
        if not value:
            return ""
        if not EXTERNAL_REFERENCE.match(value):
            raise ValueError(
                "Use 1 to 100 letters, digits and . _ ~ : @ + = - (starting with a letter or "
                "digit)."
            )
        if value.lower() in RESERVED_REFERENCES:
            raise ValueError(f'"{value}" is reserved by the API; choose another id.')
        return value

    def _name(self, value: str) -> str:
        if len(value) > 200:
            raise ValueError("Must be at most 200 characters.")
        return value

    def _email(self, value: str) -> str:
        value = value.lower()
        if not value:
            return ""
        try:
            _email_validator(value)
        except ValidationError:
            raise ValueError("Enter a valid email address.") from None
        if len(value) > 254:
            raise ValueError("Must be at most 254 characters.")
        return value

    def _mobile(self, value: str) -> str:
        return normalize_mobile(value, self.region) if value else ""

    def _owner(self, value: str) -> User | None:
        if not value:
            return None
        user = self.member(value)
        if user is None:
            raise ValueError("No member of this workspace has this email.")
        return user

    def _custom(self, values: Any, result: Cleaned, from_text: bool) -> dict[str, Any]:
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            result.fail("customFields", "Must be an object of custom field keys and values.")
            return {}
        cleaned: dict[str, Any] = {}
        for key, value in values.items():
            definition = self.custom_fields.get(key)
            if definition is None:
                result.fail(f"customFields.{key}", "Unknown custom field.")
                continue
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            try:
                cleaned[key] = definition.coerce(value, from_text=from_text)
            except ValueError as error:
                result.fail(f"customFields.{key}", str(error))
        for key, definition in self.custom_fields.items():
            missing = key not in cleaned and f"customFields.{key}" not in result.errors
            if definition.required and missing:
                result.fail(f"customFields.{key}", "This field is required.")
        return cleaned

    def data_of(self, contact: Contact) -> dict[str, Any]:
        """A contact's editable fields as input (to prefill a form or keep on a PUT)."""
        return {
            "externalReferenceId": contact.external_reference_id,
            "name": contact.name,
            "email": contact.email,
            "mobileNumber": contact.mobile_number,
            "gender": contact.gender,
            "status": contact.status,
            "stage": contact.stage,
            "ownerEmail": contact.owner.email if contact.owner else "",
            "customFields": dict(contact.custom_fields),
            "source": contact.source,
        }


class _NotText:
    pass


_NOT_TEXT: Any = _NotText()


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if not isinstance(value, str):
        return _NOT_TEXT
    return " ".join(value.split()) if "\n" in value or "\t" in value else value.strip()


def validated(rules: ContactRules, data: Mapping[str, Any]) -> dict[str, Any]:
    """The cleaned values, or the API's 422 with every field's errors."""
    cleaned = rules.clean(data)
    if cleaned.errors:
        raise ApiError(422, "Some fields are not valid.", cleaned.errors)
    return cleaned.values
