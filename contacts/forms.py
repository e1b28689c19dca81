"""Forms of the Contacts pages. Contact rules live in contacts/validation.py; the form
only maps its inputs to them and their errors back beside the inputs."""

from __future__ import annotations

from typing import Any

from django import forms

from contacts.models import Contact, CustomField, FieldType, Gender, Stage, Status
from contacts.validation import EMAIL_OR_MOBILE, ContactRules

FORM_FIELDS = {
    "externalReferenceId": "external_reference_id",
    "name": "name",
    "email": "email",
    "mobileNumber": "mobile_number",
    "gender": "gender",
    "status": "status",
    "stage": "stage",
    "ownerEmail": "owner",
}
BOOLEAN_CHOICES = [("", "—"), ("true", "Yes"), ("false", "No")]


def _blank(choices: Any) -> list[tuple[str, str]]:
    return [("", "—"), *choices.choices]


class ContactForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    email = forms.CharField(
        label="Primary email",
        max_length=254,
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    mobile_number = forms.CharField(
        label="Mobile number",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "placeholder": "+14155552671"}),
    )
    gender = forms.ChoiceField(choices=_blank(Gender), required=False)
    status = forms.ChoiceField(choices=Status.choices, initial=Status.ACTIVE, required=False)
    stage = forms.ChoiceField(choices=_blank(Stage), required=False)
    owner = forms.ChoiceField(required=False)
    external_reference_id = forms.CharField(
        label="External reference id",
        max_length=100,
        required=False,
        help_text="Your system's id for this person (optional, unique).",
    )
    # Set by the warning's "Add anyway" button.
    confirm_duplicate = forms.BooleanField(required=False)

    def __init__(self, *args: Any, rules: ContactRules, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rules = rules
        members = rules.member_emails()
        self.fields["owner"].choices = [("", "—"), *((e, e) for e in members)]
        for definition in rules.custom_fields.values():
            self.fields[f"cf_{definition.key}"] = _custom_input(definition)
        self.values: dict[str, Any] = {}

    def custom_inputs(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("cf_")]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        given = {api: data.get(name) or "" for api, name in FORM_FIELDS.items()}
        given["customFields"] = {
            key: data.get(f"cf_{key}") or "" for key in self.rules.custom_fields
        }
        cleaned = self.rules.clean({**given, "source": "form"}, from_text=True)
        shown: set[str] = set()  # "Give at least an email or a mobile number." once, not per field
        for name, messages in cleaned.errors.items():
            target = FORM_FIELDS.get(name) or (
                f"cf_{name.removeprefix('customFields.')}"
                if name.startswith("customFields.")
                else None
            )
            for message in messages:
                if message in shown:
                    continue
                shown.add(message)
                if target in self.fields and target not in self.errors:
                    self.add_error(target, message)
                elif target not in self.fields:
                    self.add_error(None, message)
        self.values = cleaned.values
        return data

    @property
    def needs_email_or_mobile(self) -> bool:
        return EMAIL_OR_MOBILE in self.errors.get("email", [])

    @staticmethod
    def initial_for(contact: Contact) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "name": contact.name,
            "email": contact.email,
            "mobile_number": contact.mobile_number,
            "gender": contact.gender,
            "status": contact.status,
            "stage": contact.stage,
            "owner": contact.owner.email if contact.owner else "",
            "external_reference_id": contact.external_reference_id,
        }
        for key, value in contact.custom_fields.items():
            initial[f"cf_{key}"] = str(value).lower() if isinstance(value, bool) else value
        return initial


def _custom_input(definition: CustomField) -> forms.Field:
    common = {"label": definition.label, "required": definition.required}
    if definition.type == FieldType.BOOLEAN:
        return forms.ChoiceField(choices=BOOLEAN_CHOICES, **common)
    if definition.type == FieldType.CHOICE:
        return forms.ChoiceField(
            choices=[("", "—"), *((c, c) for c in definition.choices)], **common
        )
    widget: forms.Widget = forms.TextInput()
    if definition.type == FieldType.NUMBER:
        widget = forms.NumberInput(attrs={"step": "any"})
    elif definition.type == FieldType.DATE:
        widget = forms.DateInput(attrs={"type": "date"})
    return forms.CharField(widget=widget, **common)


class CsvImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="The first line names the columns: Name, Email, Mobile, Gender, Status, "
        "Stage, Owner, External reference id, and your custom fields.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class CustomFieldForm(forms.ModelForm):
    # Not the model field: the model keeps a list, the form a comma-separated line.
    choices = forms.CharField(
        label="Choices",
        required=False,
        help_text="For a choice field: the options, separated by commas.",
    )

    class Meta:
        model = CustomField
        fields = ["label", "key", "type", "required"]
        help_texts = {"key": "Used in the API's customFields, e.g. company_size."}

    def __init__(self, *args: Any, agent: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.agent = agent

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        text = data.get("choices") or ""
        self.instance.choices = [c.strip() for c in text.split(",") if c.strip()]
        key = data.get("key")
        if key and CustomField.objects.for_agent(self.instance.agent).filter(key=key).exists():
            self.add_error("key", "This agent already has a field with this key.")
        return data
