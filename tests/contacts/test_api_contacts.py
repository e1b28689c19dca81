"""The contact endpoints: create, read, list, replace, archive, delete, schema."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.models import Agent, AuditEvent, User
from contacts.models import Contact, ContactCount, CustomField
from tests.contacts.conftest import Api, by_id, by_reference, list_url, url
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def create(api: Api, agent: Agent, **fields: Any) -> Any:
    return api.post(list_url(agent), {"email": "new@example.com", **fields})


# --- create -----------------------------------------------------------------------------


def test_create_normalises_and_answers_201_with_etag(api: Api, agent_a: Agent, owner: User):
    response = create(
        api,
        agent_a,
        name="  Ann Lee ",
        email="Ann.Lee@Example.COM",
        mobileNumber="(415) 555-2671",
        gender="female",
        stage="old customer",
        ownerEmail="OWNER@acme.test",
        externalReferenceId="crm-7",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["success"] is True and body["message"] == "Contact created."
    data = body["data"]
    assert data["name"] == "Ann Lee"
    assert data["email"] == "ann.lee@example.com"
    assert data["mobileNumber"] == "+14155552671"
    assert data["gender"] == "Female"
    assert data["stage"] == "Old Customer"
    assert data["status"] == "Active"
    assert data["source"] == "api"
    assert data["ownerEmail"] == "owner@acme.test"
    assert data["archived"] is False
    assert len(data["id"]) == 24 and int(data["id"], 16) >= 0
    assert response["ETag"] == f'"{data["id"]}-1"'
    assert response["Location"] == by_id(agent_a, Contact.objects.get())


def test_create_is_audited_with_the_keys_name(api: Api, agent_a: Agent) -> None:
    create(api, agent_a, name="Ann")
    event = AuditEvent.objects.get(resource__startswith="Contact ")
    assert event.actor == 'API key "CRM sync"'
    assert event.user is None
    assert event.action == "create"
    assert event.organization == agent_a.organization and event.agent == agent_a
    assert 'Created contact "Ann"' in event.description


@override_settings(CONTACTS_DEFAULT_REGION="GB")
def test_a_national_number_is_read_in_the_default_region(api: Api, agent_a: Agent) -> None:
    response = create(api, agent_a, mobileNumber="020 7946 0958")
    assert response.json()["data"]["mobileNumber"] == "+442079460958"


def test_a_mobile_number_alone_is_enough(api: Api, agent_a: Agent) -> None:
    response = api.post(list_url(agent_a), {"mobileNumber": "+44 20 7946 0958"})
    assert response.status_code == 201
    assert response.json()["data"]["email"] is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": 42}, "email"),
        ({"email": "", "mobileNumber": ""}, "mobileNumber"),
        ({"mobileNumber": "12345"}, "mobileNumber"),
        ({"mobileNumber": 4155552671}, "mobileNumber"),
        ({"name": "x" * 201}, "name"),
        ({"gender": "Robot"}, "gender"),
        ({"status": "Sleeping"}, "status"),
        ({"stage": "Friend"}, "stage"),
        ({"ownerEmail": "boss@globex.test"}, "ownerEmail"),
        ({"externalReferenceId": "has space"}, "externalReferenceId"),
        ({"externalReferenceId": "a/b"}, "externalReferenceId"),
        ({"externalReferenceId": "schema"}, "externalReferenceId"),
        ({"externalReferenceId": "x" * 101}, "externalReferenceId"),
        ({"source": "fax"}, "source"),
        ({"customFields": "plain"}, "customFields"),
        ({"nickname": "Jo"}, "nickname"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(
    api: Api, agent_a: Agent, stranger: User, fields: dict[str, Any], field: str
) -> None:
    body = {"email": "ok@example.com", **fields}
    if "mobileNumber" in fields and "email" not in fields:
        body.pop("email")
    response = api.post(list_url(agent_a), body)
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
    assert Contact.objects.count() == 0


def test_neither_email_nor_mobile_is_422_on_both(api: Api, agent_a: Agent) -> None:
    response = api.post(list_url(agent_a), {"name": "Nobody"})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert "email" in errors and "mobileNumber" in errors


def test_a_body_that_is_not_json_is_400(api: Api, agent_a: Agent) -> None:
    response = api.client.post(
        list_url(agent_a), "{nope", content_type="application/json", headers=api.headers
    )
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_a_duplicate_external_reference_is_409_and_no_second_row(
    api: Api, agent_a: Agent, jane: Contact
) -> None:
    response = create(api, agent_a, externalReferenceId="crm-1")
    assert response.status_code == 409
    assert "externalReferenceId" in response.json()["errors"]
    assert Contact.objects.filter(external_reference_id="crm-1").count() == 1


def test_the_same_external_reference_in_another_agent_is_fine(
    api: Api, agent_a: Agent, agent_b: Agent
) -> None:
    ContactFactory(agent=agent_b, external_reference_id="crm-1")
    assert create(api, agent_a, externalReferenceId="crm-1").status_code == 201


# --- custom fields ----------------------------------------------------------------------


@pytest.fixture
def fields(agent_a: Agent) -> None:
    for key, kind, extra in [
        ("employees", "number", {}),
        ("renewal", "date", {}),
        ("vip", "boolean", {}),
        ("plan", "choice", {"choices": ["Free", "Pro"]}),
        ("notes", "text", {}),
    ]:
        CustomField.objects.create(agent=agent_a, key=key, label=key.title(), type=kind, **extra)


def test_custom_fields_are_checked_and_stored(api: Api, agent_a: Agent, fields: None) -> None:
    values = {"employees": 12, "renewal": "2027-01-31", "vip": True, "plan": "pro", "notes": "x"}
    response = create(api, agent_a, customFields=values)
    assert response.status_code == 201, response.content
    assert response.json()["data"]["customFields"] == {**values, "plan": "Pro"}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"nickname": "Jo"}, "customFields.nickname"),
        ({"employees": "ten"}, "customFields.employees"),
        ({"employees": True}, "customFields.employees"),
        ({"renewal": "31/01/2027"}, "customFields.renewal"),
        ({"vip": "yes"}, "customFields.vip"),
        ({"plan": "Gold"}, "customFields.plan"),
        ({"notes": 5}, "customFields.notes"),
    ],
)
def test_unknown_or_ill_typed_custom_values_are_422(
    api: Api, agent_a: Agent, fields: None, values: dict[str, Any], field: str
) -> None:
    response = create(api, agent_a, customFields=values)
    assert response.status_code == 422
    assert field in response.json()["errors"]


def test_values_of_a_removed_field_are_not_returned(api: Api, agent_a: Agent, fields: None) -> None:
    created = create(api, agent_a, customFields={"plan": "Pro", "vip": True}).json()["data"]
    CustomField.objects.filter(key="plan").delete()
    path = url("get_contact_by_id", agent_id=agent_a.public_id, contact_id=created["id"])
    fetched = api.get(path).json()["data"]
    assert fetched["customFields"] == {"vip": True}
    assert api.put(path, fetched).status_code == 200


def test_a_required_custom_field_must_be_given(api: Api, agent_a: Agent) -> None:
    CustomField.objects.create(agent=agent_a, key="company", label="Company", required=True)
    response = create(api, agent_a)
    assert response.status_code == 422
    assert response.json()["errors"]["customFields.company"] == ["This field is required."]
    assert create(api, agent_a, customFields={"company": "Acme"}).status_code == 201


def test_the_schema_lists_default_and_custom_fields(api: Api, agent_a: Agent, fields: None):
    response = api.get(url("contact_schema", agent_id=agent_a.public_id))
    data = response.json()["data"]
    defaults = {f["key"]: f for f in data["defaultFields"]}
    assert defaults["stage"]["choices"] == ["Lead", "Prospect", "Customer", "Old Customer"]
    assert defaults["id"]["readOnly"] is True
    custom = {f["key"]: f for f in data["customFields"]}
    assert custom["plan"] == {
        "key": "plan",
        "label": "Plan",
        "type": "choice",
        "required": False,
        "readOnly": False,
        "choices": ["Free", "Pro"],
    }
    assert custom["employees"]["type"] == "number"


# --- read -------------------------------------------------------------------------------


def test_get_by_either_address(api: Api, agent_a: Agent, jane: Contact) -> None:
    for path in (by_id(agent_a, jane), by_reference(agent_a, "crm-1")):
        response = api.get(path)
        assert response.status_code == 200
        assert response.json()["data"]["email"] == "jane@example.com"
        assert response["ETag"] == jane.etag


def test_an_unknown_contact_is_404(api: Api, agent_a: Agent) -> None:
    assert api.get(by_reference(agent_a, "nobody")).status_code == 404
    response = api.get(url("get_contact_by_id", agent_id=agent_a.public_id, contact_id="f" * 24))
    assert response.status_code == 404
    assert response.json()["message"] == "Contact not found."


def test_if_none_match_answers_304(api: Api, agent_a: Agent, jane: Contact) -> None:
    response = api.get(by_id(agent_a, jane), headers={"If-None-Match": jane.etag})
    assert response.status_code == 304


# --- list -------------------------------------------------------------------------------


@pytest.fixture
def many(agent_a: Agent) -> list[Contact]:
    return [ContactFactory(agent=agent_a, name=f"Person {i:02}") for i in range(25)]


def test_list_pages_cover_everyone_once_in_a_stable_order(
    api: Api, agent_a: Agent, agent_b: Agent, many: list[Contact]
) -> None:
    ContactFactory(agent=agent_b)
    everyone = [c["id"] for c in api.get(list_url(agent_a), {"limit": 100}).json()["data"]]
    assert len(everyone) == 25
    pages = []
    for page in (1, 2, 3):
        body = api.get(list_url(agent_a), {"page": page, "limit": 10}).json()
        pagination = {k: v for k, v in body["pagination"].items() if k != "nextCursor"}
        assert pagination == {"page": page, "limit": 10, "total": 25, "totalPages": 3}
        assert (body["pagination"]["nextCursor"] is None) == (page == 3)
        pages += [c["id"] for c in body["data"]]
    assert pages == everyone
    newest_first = sorted(many, key=lambda c: (c.created_at, c.pk), reverse=True)
    assert everyone == [c.public_id for c in newest_first]


def test_search_pages_in_the_second_half_keep_the_order(
    api: Api, agent_a: Agent, many: list[Contact]
) -> None:
    names = sorted(c.name for c in many)
    pages = []
    for number in (1, 2, 3):
        body = api.get(list_url(agent_a), {"search": "person", "page": number, "limit": 10})
        pages += [c["name"] for c in body.json()["data"]]
    assert pages == names


def test_a_page_beyond_the_last_is_empty(api: Api, agent_a: Agent, many: list[Contact]) -> None:
    body = api.get(list_url(agent_a), {"page": 9, "limit": 10}).json()
    assert body["data"] == []
    assert body["pagination"]["total"] == 25


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "x"}, "page"),
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"status": "Asleep"}, "status"),
        ({"stage": "Friend"}, "stage"),
        ({"updatedSince": "yesterday"}, "updatedSince"),
        ({"sort": "name"}, "sort"),
    ],
)
def test_bad_list_parameters_are_422(api: Api, agent_a: Agent, params: dict, field: str) -> None:
    response = api.get(list_url(agent_a), params)
    assert response.status_code == 422
    assert field in response.json()["errors"]


def test_list_filters(api: Api, agent_a: Agent) -> None:
    lead = ContactFactory(agent=agent_a, stage="Lead", status="Inactive", email="lead@x.com")
    ContactFactory(agent=agent_a, stage="Customer")
    old = ContactFactory(agent=agent_a)
    Contact.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=3))

    def ids(**params: Any) -> set[str]:
        return {c["id"] for c in api.get(list_url(agent_a), params).json()["data"]}

    assert ids(stage="lead") == {lead.public_id}
    assert ids(status="inactive") == {lead.public_id}
    assert ids(email="LEAD@x.com") == {lead.public_id}
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert old.public_id not in ids(updatedSince=since) and len(ids(updatedSince=since)) == 2
    assert api.get(list_url(agent_a), {"stage": "lead"}).json()["pagination"]["total"] == 1


def test_search_by_name_email_and_phone_prefix(api: Api, agent_a: Agent, agent_b: Agent):
    ann = ContactFactory(agent=agent_a, name="Ann Lee", email="ann@acme.test")
    anna = ContactFactory(agent=agent_a, name="anna smith", mobile_number="+14155550123")
    ContactFactory(agent=agent_a, name="Bob", email="bob@acme.test")
    ContactFactory(agent=agent_b, name="Ann Other")

    def found(term: str) -> list[str]:
        return [c["id"] for c in api.get(list_url(agent_a), {"search": term}).json()["data"]]

    assert found("ann") == [ann.public_id, anna.public_id]
    assert found("ANNA") == [anna.public_id]
    assert found("bob@") == [found("Bob")[0]]
    assert found("(415) 555-01") == [anna.public_id]
    assert found("+1415555") == [anna.public_id]
    assert found("zed") == []


def test_archived_contacts_are_left_out_unless_asked_for(
    api: Api, agent_a: Agent, jane: Contact, many: list[Contact]
) -> None:
    archive = url("archive_contact_by_id", agent_id=agent_a.public_id, contact_id=jane.public_id)
    assert api.patch(archive).status_code == 200
    default = api.get(list_url(agent_a), {"limit": 100}).json()
    assert default["pagination"]["total"] == 25
    assert jane.public_id not in {c["id"] for c in default["data"]}
    everything = api.get(list_url(agent_a), {"limit": 100, "includeArchived": "true"}).json()
    assert everything["pagination"]["total"] == 26


def test_list_sorted_by_update(api: Api, agent_a: Agent, many: list[Contact]) -> None:
    first = many[0]
    api.put(by_id(agent_a, first), {"email": "moved@example.com"})
    data = api.get(list_url(agent_a), {"sort": "-updatedAt"}).json()["data"]
    assert data[0]["id"] == first.public_id


# --- replace ----------------------------------------------------------------------------


def test_put_replaces_the_editable_fields(api: Api, agent_a: Agent, jane: Contact) -> None:
    response = api.put(by_id(agent_a, jane), {"email": "jane@new.example", "stage": "Customer"})
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["name"] == "" and data["mobileNumber"] is None
    assert data["email"] == "jane@new.example" and data["stage"] == "Customer"
    assert data["externalReferenceId"] == "crm-1"  # kept when not sent
    assert response["ETag"] == f'"{jane.public_id}-2"'
    assert AuditEvent.objects.filter(action="update", actor='API key "CRM sync"').count() == 1


def test_put_keeps_the_source(api: Api, agent_a: Agent) -> None:
    imported = ContactFactory(agent=agent_a, source="csv")
    response = api.put(by_id(agent_a, imported), {"email": "a@x.com", "source": "chat"})
    assert response.json()["data"]["source"] == "csv"


def test_what_a_get_returns_can_be_put_back(api: Api, agent_a: Agent, jane: Contact) -> None:
    fetched = api.get(by_reference(agent_a, "crm-1"))
    data = fetched.json()["data"]
    data["name"] = "Jane Q. Doe"
    response = api.put(by_reference(agent_a, "crm-1"), data, headers={"If-Match": fetched["ETag"]})
    assert response.status_code == 200, response.content
    assert response.json()["data"]["name"] == "Jane Q. Doe"
    assert response.json()["data"]["createdAt"] == data["createdAt"]


def test_a_stale_if_match_is_412_and_changes_nothing(
    api: Api, agent_a: Agent, jane: Contact
) -> None:
    stale = jane.etag
    api.put(by_id(agent_a, jane), {"email": "first@example.com"})
    response = api.put(
        by_id(agent_a, jane), {"email": "second@example.com"}, headers={"If-Match": stale}
    )
    assert response.status_code == 412
    jane.refresh_from_db()
    assert jane.email == "first@example.com"
    assert (
        api.put(
            by_id(agent_a, jane), {"email": "x@example.com"}, headers={"If-Match": "*"}
        ).status_code
        == 200
    )


def test_put_can_change_or_clear_the_external_reference(
    api: Api, agent_a: Agent, jane: Contact
) -> None:
    response = api.put(
        by_reference(agent_a, "crm-1"), {"email": "j@x.com", "externalReferenceId": "crm-9"}
    )
    assert response.json()["data"]["externalReferenceId"] == "crm-9"
    assert api.get(by_reference(agent_a, "crm-1")).status_code == 404
    response = api.put(
        by_reference(agent_a, "crm-9"), {"email": "j@x.com", "externalReferenceId": None}
    )
    assert response.json()["data"]["externalReferenceId"] is None


def test_put_onto_another_contacts_reference_is_409(
    api: Api, agent_a: Agent, jane: Contact
) -> None:
    other = ContactFactory(agent=agent_a, external_reference_id="crm-2")
    response = api.put(by_id(agent_a, other), {"email": "o@x.com", "externalReferenceId": "crm-1"})
    assert response.status_code == 409
    other.refresh_from_db()
    assert other.external_reference_id == "crm-2"


def test_put_validates_like_create(api: Api, agent_a: Agent, jane: Contact) -> None:
    response = api.put(by_id(agent_a, jane), {"name": "No contact details"})
    assert response.status_code == 422
    assert "email" in response.json()["errors"]


# --- archive and delete -----------------------------------------------------------------


def test_archive_and_restore(api: Api, agent_a: Agent, jane: Contact) -> None:
    path = url("archive_contact", agent_id=agent_a.public_id, external_reference_id="crm-1")
    response = api.patch(path)
    assert response.status_code == 200 and response.json()["data"]["archived"] is True
    assert ContactCount.of(agent_a).archived == 1
    response = api.patch(path, {"archived": False})
    assert response.json()["data"]["archived"] is False
    assert ContactCount.of(agent_a).visible == 1
    descriptions = list(AuditEvent.objects.values_list("description", flat=True))
    assert any(d.startswith("Archived contact") for d in descriptions)
    assert any(d.startswith("Restored contact") for d in descriptions)


def test_archive_honours_if_match(api: Api, agent_a: Agent, jane: Contact) -> None:
    path = url("archive_contact_by_id", agent_id=agent_a.public_id, contact_id=jane.public_id)
    assert api.patch(path, headers={"If-Match": '"old-0"'}).status_code == 412


def test_delete_by_either_address(api: Api, agent_a: Agent, jane: Contact) -> None:
    other = ContactFactory(agent=agent_a, external_reference_id="crm-2")
    assert api.delete(by_id(agent_a, jane)).json()["data"] == {
        "id": jane.public_id,
        "deleted": True,
    }
    assert api.delete(by_reference(agent_a, "crm-2")).status_code == 200
    assert not Contact.objects.filter(pk__in=[jane.pk, other.pk]).exists()
    assert api.get(by_id(agent_a, jane)).status_code == 404
    assert ContactCount.of(agent_a).visible == 0
    assert AuditEvent.objects.filter(action="delete").count() == 2


def test_delete_honours_if_match(api: Api, agent_a: Agent, jane: Contact) -> None:
    assert api.delete(by_id(agent_a, jane), headers={"If-Match": '"old-0"'}).status_code == 412
    assert Contact.objects.filter(pk=jane.pk).exists()


# --- documentation ----------------------------------------------------------------------


def test_the_openapi_document_describes_every_contact_path(client: Any) -> None:
    schema = client.get("/v1/open/openapi.json").json()
    base = "/v1/open/contacts"
    agent = "chatbots/{agent_id}"
    for path in [
        f"{base}/schema/{agent}",
        f"{base}/{agent}",
        f"{base}/{{external_reference_id}}/{agent}",
        f"{base}/{{external_reference_id}}/{agent}/archive",
        f"{base}/mantisid/{{contact_id}}/{agent}",
        f"{base}/mantisid/{{contact_id}}/{agent}/archive",
        f"{base}/mantisid/{{contact_id}}/files/{agent}",
        f"{base}/mantisid/{{contact_id}}/files/{{file_id}}/{agent}",
    ]:
        assert path in schema["paths"], path
    contact_in = schema["components"]["schemas"]["ContactIn"]["properties"]
    assert {"externalReferenceId", "mobileNumber", "ownerEmail", "customFields"} <= set(contact_in)
    list_op = schema["paths"][f"{base}/{agent}"]["get"]
    names = {p["name"] for p in list_op["parameters"]}
    assert {"page", "limit", "search", "status", "stage", "email", "updatedSince"} <= names
