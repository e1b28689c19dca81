"""contacts/importing.py: CSV rows checked with the API's rules, imported all at once."""

from __future__ import annotations

import pytest

from accounts.models import Agent, User
from contacts import importing
from contacts.models import Contact, ContactCount, CustomField, Source
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

CSV = """Name,E-mail,Mobile,Stage,Owner,External ID,Plan,Favourite colour
Ann Lee,ANN@example.com,(415) 555-2671,lead,owner@acme.test,crm-1,Pro,blue
Bob,not-an-email,,,,crm-2,,red
,,,,,,,
Cy,,12345,,,,,
Di,di@example.com,,Friend,nobody@x.test,crm-1,Gold,
Ed,ed@example.com,,,,crm-9,,
"""


@pytest.fixture
def plan(agent_a: Agent) -> CustomField:
    return CustomField.objects.create(
        agent=agent_a, key="plan", label="Plan", type="choice", choices=["Free", "Pro"]
    )


def test_each_bad_row_is_reported_with_its_reasons(
    agent_a: Agent, owner: User, plan: CustomField
) -> None:
    ContactFactory(agent=agent_a, external_reference_id="crm-9")
    checked = importing.read_csv(agent_a, CSV)
    assert checked.error == ""
    assert checked.ignored_columns == ["Favourite colour"]
    assert [line for line, _ in checked.good] == [2]
    reasons = {row.line: row.reasons for row in checked.bad}
    assert reasons[3] == ["E-mail: Enter a valid email address."]
    assert reasons[5] == ["Mobile: Enter a valid phone number, e.g. +14155552671."]
    assert set(reasons[6]) == {
        "Stage: Must be one of: Lead, Prospect, Customer, Old Customer.",
        "Owner: No member of this workspace has this email.",
        "Plan: Must be one of: Free, Pro.",
        "External ID: repeats line 2.",
    }
    assert reasons[7] == ["External ID: a contact with this id already exists."]
    assert 4 not in reasons  # blank lines are skipped


def test_good_rows_are_imported_in_one_go(agent_a: Agent, owner: User, plan: CustomField):
    checked = importing.read_csv(agent_a, CSV)
    assert importing.import_rows(agent_a, [values for _, values in checked.good]) == 2
    ann = Contact.objects.get(external_reference_id="crm-1")
    assert ann.email == "ann@example.com" and ann.mobile_number == "+14155552671"
    assert ann.stage == "Lead" and ann.owner == owner and ann.custom_fields == {"plan": "Pro"}
    assert ann.source == Source.CSV
    assert ContactCount.of(agent_a).visible == 2


def test_a_clash_at_import_time_imports_nothing(agent_a: Agent) -> None:
    checked = importing.read_csv(agent_a, "email,external id\na@x.com,r-1\nb@x.com,r-2\n")
    ContactFactory(agent=agent_a, external_reference_id="r-2")  # another writer, meanwhile
    with pytest.raises(importing.ImportFailed):
        importing.import_rows(agent_a, [values for _, values in checked.good])
    assert not Contact.objects.filter(email="a@x.com").exists()
    assert ContactCount.of(agent_a).visible == 1


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "The file is empty."),
        ("name,company\nAnn,Acme\n", "The file needs an email or a mobile number column"),
    ],
)
def test_unusable_files_are_refused_whole(agent_a: Agent, text: str, error: str) -> None:
    assert importing.read_csv(agent_a, text).error.startswith(error)


def test_semicolons_and_a_bom_are_understood(agent_a: Agent) -> None:
    text = importing.decode("\ufeffName;Email\nAnn;ann@x.com\n".encode())
    checked = importing.read_csv(agent_a, text)
    assert [values["email"] for _, values in checked.good] == ["ann@x.com"]


def test_windows_1252_files_are_decoded() -> None:
    assert importing.decode("Zoë".encode("cp1252")) == "Zoë"
