"""Turning an extraction into a CRM contact: the one place the two apps meet."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from contacts.models import Contact, Source
from contacts.validation import ContactRules, validated

if TYPE_CHECKING:
    from a2v2.http import ApiRequest
    from extraction.models import Document


def _first_entity(document: Document, kind: str) -> str:
    for entity in (document.result or {}).get("entities", {}).get(kind, []):
        value = (
            entity.get("normalized") or entity.get("value") if isinstance(entity, dict) else entity
        )
        if value:
            return str(value)
    return ""


def extracted_contact(document: Document) -> dict[str, Any]:
    """What the document says about a person: its contact fields, else its entities."""
    name = document.field_value("name") or ""
    return {
        "name": str(name)[:200],
        "email": str(document.field_value("email") or _first_entity(document, "emails")),
        "mobileNumber": str(document.field_value("phone") or _first_entity(document, "phones")),
        "source": Source.EXTRACTION,
    }


def contact_of(
    request: ApiRequest, document: Document, overrides: dict[str, Any]
) -> tuple[bool, Contact]:
    """(created, contact): an existing contact with the same email or phone is returned
    instead of creating a duplicate."""
    agent = request.api_key.agent
    data = extracted_contact(document) | overrides
    rules = ContactRules(agent)
    values = validated(rules, data)
    with transaction.atomic():
        existing = (
            Contact.objects.for_agent(agent)
            .similar_to(values["email"], values["mobile_number"])
            .select_for_update()
            .first()
        )
        if existing is not None:
            return False, existing
        contact = Contact(agent=agent, **values)
        contact.create(
            request=request,
            actor=request.api_key.actor,
            description=f"Created contact from document {document.public_id}",
        )
    return True, contact
