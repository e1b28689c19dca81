"""The API Permissions forms: step 1 (basics), step 2 (permissions), edit (both), rotate,
and a webhook endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

from a2v2.lib import outbound
from apikeys import crypto
from apikeys.models import (
    ALL_PERMISSIONS,
    EXPIRY_HELP,
    GRACE_PERIODS,
    SUBSCRIBABLE_EVENTS,
    ApiKey,
    Area,
    check_expiry_day,
    check_rate_limits,
    end_of_day,
    expiry_day,
    normalize_allowlist,
    validate_ip_allowlist,
)

PERMISSION_FIELDS = [permission.field for permission in ALL_PERMISSIONS]
GRACE_CHOICES = [
    ("none", "No grace period — the old key stops working now"),
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
]
assert {value for value, _ in GRACE_CHOICES} == set(GRACE_PERIODS)


class KeyBasicsForm(forms.Form):
    """Step 1 of 2 — Enter basic information."""

    name = forms.CharField(
        label="Name",
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "e.g. Zapier"}),
        help_text="Up to 100 characters. A descriptive name makes the key easy to identify.",
    )
    description = forms.CharField(
        label="Description",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What uses this key?"}),
        help_text="Optional, up to 500 characters.",
    )
    ip_allowlist = forms.CharField(
        label="IP Address",
        required=False,
        validators=[validate_ip_allowlist],
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "placeholder": "192.168.1.1, 10.0.0.1",
                "spellcheck": "false",
            }
        ),
        help_text=(
            "Optional. Comma-separated IPv4 or IPv6 addresses or CIDR ranges, "
            "e.g. 192.168.1.1, 10.0.0.1. Leave empty to allow any address."
        ),
    )

    def clean_ip_allowlist(self) -> str:
        value: str = self.cleaned_data["ip_allowlist"]
        return normalize_allowlist(value) if value else ""


class KeyPermissionsForm(forms.Form):
    """Step 2 of 2 — Configure permissions."""

    rate_limit_per_minute = forms.IntegerField(
        label="Requests per minute",
        initial=60,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        widget=forms.NumberInput(attrs={"min": 1, "max": 1000}),
        help_text="1 to 1,000.",
    )
    rate_limit_per_hour = forms.IntegerField(
        label="Requests per hour",
        initial=1000,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
        widget=forms.NumberInput(attrs={"min": 1, "max": 10000}),
        help_text="1 to 10,000.",
    )
    expires_on = forms.DateField(
        label="Expiry date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=f"Optional. {EXPIRY_HELP}",
    )

    def __init__(self, *args: Any, current_expiry: date | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An edit may keep a key's existing expiry, even one already passed.
        self.current_expiry = current_expiry
        for permission in ALL_PERMISSIONS:
            self.fields[permission.field] = forms.BooleanField(
                label=permission.action.capitalize(), required=False
            )

    def clean_expires_on(self) -> date | None:
        value: date | None = self.cleaned_data["expires_on"]
        if value and value != self.current_expiry:
            check_expiry_day(value)
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            check_rate_limits(data.get("rate_limit_per_minute"), data.get("rate_limit_per_hour"))
        except ValidationError as error:
            self.add_error(None, error)
        return data

    def permission_groups(self) -> list[PermissionGroup]:
        return [
            PermissionGroup(
                area=area,
                fields=[self[p.field] for p in ALL_PERMISSIONS if p.area == area],
            )
            for area in Area
        ]

    def key_fields(self) -> dict[str, Any]:
        """The cleaned values as ApiKey fields."""
        data = self.cleaned_data
        fields = {name: data[name] for name in PERMISSION_FIELDS}
        fields["rate_limit_per_minute"] = data["rate_limit_per_minute"]
        fields["rate_limit_per_hour"] = data["rate_limit_per_hour"]
        fields["expires_at"] = end_of_day(data["expires_on"]) if data["expires_on"] else None
        return fields


@dataclass(frozen=True)
class PermissionGroup:
    area: Area
    fields: list[forms.BoundField]


class ApiKeyForm(KeyBasicsForm, KeyPermissionsForm):
    """Edit: both steps' fields in one form, for an existing key."""

    def __init__(self, data: Any = None, *, key: ApiKey) -> None:
        expiry = expiry_day(key.expires_at) if key.expires_at else None
        initial = {
            "name": key.name,
            "description": key.description,
            "ip_allowlist": key.ip_allowlist,
            "rate_limit_per_minute": key.rate_limit_per_minute,
            "rate_limit_per_hour": key.rate_limit_per_hour,
            "expires_on": expiry,
            **{name: getattr(key, name) for name in PERMISSION_FIELDS},
        }
        super().__init__(data, initial=initial, current_expiry=expiry)
        self.key = key

    def changed_labels(self) -> str:
        """What an edit changed, for the audit trail: "Name, Contact Access: Read"."""
        names = {p.field: str(p) for p in ALL_PERMISSIONS}
        return ", ".join(names.get(name, str(self[name].label)) for name in self.changed_data)

    def save(self) -> ApiKey:
        key = self.key
        granted = [
            name for name in PERMISSION_FIELDS if self.cleaned_data[name] and not getattr(key, name)
        ]
        if self.cleaned_data["ip_allowlist"] != key.ip_allowlist:
            granted.append("ip_allowlist")
        key.mark_granted(granted)
        key.name = self.cleaned_data["name"]
        key.description = self.cleaned_data["description"]
        key.ip_allowlist = self.cleaned_data["ip_allowlist"]
        for name, value in self.key_fields().items():
            if name == "expires_at" and self.cleaned_data["expires_on"] == self.current_expiry:
                continue  # unchanged: keep the exact stored instant
            setattr(key, name, value)
        key.full_clean()
        key.save()
        return key


class RotateForm(forms.Form):
    grace = forms.ChoiceField(
        label="Keep the old key working for",
        choices=GRACE_CHOICES,
        initial="1h",
        widget=forms.RadioSelect,
    )
    on_first_use = forms.BooleanField(
        label="Start the grace period at the new key's first use",
        required=False,
        help_text=(
            "The old key keeps working until the new one has been used once, then for the "
            "period chosen above."
        ),
    )


class WebhookEndpointForm(forms.Form):
    """Add a webhook endpoint: where, why, and which key events."""

    url = forms.URLField(
        label="Endpoint URL",
        max_length=2000,
        assume_scheme="https",
        widget=forms.URLInput(
            attrs={"placeholder": "https://example.com/hooks/a2v2", "spellcheck": "false"}
        ),
        help_text="An https:// URL on a public address. Events are POSTed to it as JSON.",
    )
    description = forms.CharField(label="Description", max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label="Events",
        choices=[(choice.value, choice.label) for choice in SUBSCRIBABLE_EVENTS],
        widget=forms.CheckboxSelectMultiple,
        initial=[choice.value for choice in SUBSCRIBABLE_EVENTS],
        error_messages={"required": "Choose at least one event."},
    )

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        if crypto.key_encryption() is None:
            raise ValidationError(
                "Webhooks need KEY_ENCRYPTION_KEYS on the server, to keep their signing "
                "secrets encrypted."
            )
        try:
            outbound.destination(url, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES)
        except outbound.UnsafeDestination as error:
            raise ValidationError(str(error)) from None
        return url
