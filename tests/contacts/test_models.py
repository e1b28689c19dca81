"""Contact model behaviour: the kept count, search, ETags, custom field coercion."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Agent
from contacts.models import Contact, ContactCount, CustomField
from contacts.phones import normalize_mobile, search_prefixes
from contacts.validation import ContactRules
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def kept_equals_recount(agent: Agent) -> tuple[int, int]:
    kept = ContactCount.objects.get(agent=agent)
    fresh = ContactCount.recount(agent.pk)
    assert (kept.visible, kept.archived) == (fresh.visible, fresh.archived)
    return kept.visible, kept.archived


def test_the_count_follows_every_kind_of_write(agent_a: Agent, agent_b: Agent) -> None:
    contacts = [ContactFactory(agent=agent_a) for _ in range(3)]
    ContactFactory(agent=agent_b)
    assert kept_equals_recount(agent_a) == (3, 0)
    contacts[0].archived = True
    contacts[0].save()
    assert kept_equals_recount(agent_a) == (2, 1)
    contacts[0].save()  # no change, no double count
    assert kept_equals_recount(agent_a) == (2, 1)
    contacts[0].delete()
    assert kept_equals_recount(agent_a) == (2, 0)
    Contact.objects.bulk_create(
        [Contact(agent=agent_a, email=f"b{n}@x.com", archived=n == 0) for n in range(4)]
    )
    assert kept_equals_recount(agent_a) == (5, 1)
    Contact.objects.for_agent(agent_a).filter(archived=True).delete()
    assert kept_equals_recount(agent_a) == (5, 0)
    assert kept_equals_recount(agent_b) == (1, 0)


def test_an_agent_without_a_kept_count_is_counted(agent_a: Agent) -> None:
    ContactFactory(agent=agent_a)
    ContactCount.objects.all().delete()
    assert ContactCount.total(agent_a) == 1
    assert ContactCount.objects.filter(agent=agent_a).exists()


def test_conflicting_bulk_creates_are_refused(agent_a: Agent) -> None:
    with pytest.raises(ValueError, match="conflicts"):
        Contact.objects.bulk_create(
            [Contact(agent=agent_a, email="a@x.com")], ignore_conflicts=True
        )


def test_search_is_by_prefix_and_ordered_by_what_matched(agent_a: Agent) -> None:
    names = ["Émile Zola", "emma stone", "Emmet Brown", "Bob Emmerson"]
    for name in names:
        ContactFactory(agent=agent_a, name=name)
    found = [c.name for c in Contact.objects.for_agent(agent_a).search("EMM")]
    assert found == ["emma stone", "Emmet Brown"]
    assert [c.name for c in Contact.objects.for_agent(agent_a).search("  ")] != []


def test_similar_to_matches_email_or_mobile(agent_a: Agent, agent_b: Agent) -> None:
    mine = ContactFactory(agent=agent_a, email="a@x.com", mobile_number="+14155552671")
    ContactFactory(agent=agent_b, email="a@x.com")
    assert list(Contact.objects.for_agent(agent_a).similar_to("a@x.com", "")) == [mine]
    assert list(Contact.objects.for_agent(agent_a).similar_to("", "+14155552671")) == [mine]
    assert list(Contact.objects.for_agent(agent_a).similar_to("", "")) == []


def test_if_match_takes_lists_and_star(agent_a: Agent) -> None:
    contact = ContactFactory(agent=agent_a)
    assert contact.matches_etag(f'"nope", {contact.etag}')
    assert contact.matches_etag("*")
    assert not contact.matches_etag(f"W/{contact.etag}")  # If-Match compares strongly


def test_phone_numbers() -> None:
    assert normalize_mobile("+44 20 7946 0958") == "+442079460958"
    assert normalize_mobile("020 7946 0958", "GB") == "+442079460958"
    with pytest.raises(ValueError):
        normalize_mobile("not a number")
    assert search_prefixes("415 555", "US") == ["+415555", "+1415555"]
    assert search_prefixes("+44 20", "US") == ["+4420"]


def test_custom_field_keys_may_not_shadow_default_fields(agent_a: Agent) -> None:
    field = CustomField(agent=agent_a, key="mobile_number", label="M")
    with pytest.raises(ValidationError):
        field.full_clean()


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("number", "1,200", 1200),
        ("number", "2.5", 2.5),
        ("boolean", "Yes", True),
        ("boolean", "0", False),
        ("date", "2027-02-01", "2027-02-01"),
    ],
)
def test_text_inputs_are_parsed_for_typed_fields(agent_a: Agent, kind: str, text: str, value):
    CustomField.objects.create(agent=agent_a, key="f", label="F", type=kind)
    cleaned = ContactRules(agent_a).clean(
        {"email": "a@x.com", "customFields": {"f": text}}, from_text=True
    )
    assert cleaned.errors == {}
    assert cleaned.values["custom_fields"] == {"f": value}
