"""CRM → Contacts pages: list, search, detail, add (with the duplicate warning), edit,
archive, delete, CSV import, custom fields, and who may do what."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import Agent, AuditEvent, User
from contacts.models import Contact, ContactFile, CustomField
from tests.conftest import client_for
from tests.factories import AgentFactory, ContactFactory

pytestmark = pytest.mark.django_db


def page(name: str, agent: Agent, *args: Any) -> str:
    return reverse(name, args=[agent.public_id, *args])


def html(response: Any) -> str:
    return response.content.decode()


@pytest.fixture
def ann(agent_a: Agent) -> Contact:
    return ContactFactory(
        agent=agent_a,
        name="Ann Lee",
        email="ann@example.com",
        mobile_number="+14155552671",
        gender="Female",
        status="Active",
    )


# --- list and search --------------------------------------------------------------------


def test_the_list_shows_the_count_and_the_columns(owner: User, agent_a: Agent, ann: Contact):
    ContactFactory(agent=agent_a, name="Bob")
    response = client_for(owner).get(page("contacts:contacts", agent_a))
    text = html(response)
    assert "You have 2 contacts. Click any contact to view its details." in text
    for column in ("Name", "Primary Email", "Mobile Number", "Gender", "Status"):
        assert f">{column}</th>" in text
    assert "Ann Lee" in text and "ann@example.com" in text and "+14155552671" in text
    assert page("contacts:contact-detail", agent_a, ann.public_id) in text
    assert 'placeholder="Search contacts"' in text


def test_an_empty_list_invites_the_first_contact(owner: User, agent_a: Agent) -> None:
    text = html(client_for(owner).get(page("contacts:contacts", agent_a)))
    assert "No contacts yet. Add your first contact to get started." in text
    assert "You have 0 contacts." in text


def test_search_filters_the_list_and_htmx_gets_the_fragment(
    owner: User, agent_a: Agent, ann: Contact
) -> None:
    ContactFactory(agent=agent_a, name="Bob Stone")
    client = client_for(owner)
    full = client.get(page("contacts:contacts", agent_a), {"q": "ann"})
    assert "Ann Lee" in html(full) and "Bob Stone" not in html(full)
    assert "HX-Request" in full["Vary"]
    fragment = client.get(
        page("contacts:contacts", agent_a), {"q": "bob"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in html(fragment)
    assert 'id="contact-results"' in html(fragment)
    assert "Bob Stone" in html(fragment) and "Ann Lee" not in html(fragment)
    nothing = client.get(page("contacts:contacts", agent_a), {"q": "zed"})
    assert "No contacts match" in html(nothing)


def test_the_list_paginates_with_links_that_work_without_htmx(owner: User, agent_a: Agent):
    for n in range(30):
        ContactFactory(agent=agent_a, name=f"Person {n:02}")
    client = client_for(owner)
    first = html(client.get(page("contacts:contacts", agent_a)))
    assert "Page 1 of 2" in first and 'href="?page=2"' in first and 'hx-get="?page=2"' in first
    second = html(client.get(page("contacts:contacts", agent_a), {"page": 2}))
    assert "Page 2 of 2" in second and second.count("contact-link") == 5
    assert "Page 2 of 2" in html(client.get(page("contacts:contacts", agent_a), {"page": "99"}))


# --- detail -----------------------------------------------------------------------------


def test_the_detail_page_shows_fields_and_files(owner: User, agent_a: Agent, ann: Contact):
    CustomField.objects.create(agent=agent_a, key="plan", label="Plan")
    ann.custom_fields = {"plan": "Pro"}
    ann.save()
    stored = ContactFile(
        contact=ann, original_name="cv.pdf", size=2048, content_type="application/pdf", sha256="0"
    )
    stored.file.save(f"{stored.public_id}.pdf", SimpleUploadedFile("x", b"%PDF-1.4"), save=False)
    stored.save()
    client = client_for(owner)
    text = html(client.get(page("contacts:contact-detail", agent_a, ann.public_id)))
    assert "Contact Details" in text
    for value in ("Ann Lee", "ann@example.com", "+14155552671", "Female", "Plan", "Pro", "cv.pdf"):
        assert value in text
    download = client.get(page("contacts:contact-file", agent_a, ann.public_id, stored.public_id))
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="cv.pdf"'


def test_another_agents_contact_is_404(owner: User, agent_a: Agent, agent_b: Agent) -> None:
    theirs = ContactFactory(agent=agent_b)
    sibling_contact = ContactFactory(agent=AgentFactory(organization=agent_a.organization))
    client = client_for(owner)
    assert client.get(page("contacts:contact-detail", agent_a, theirs.public_id)).status_code == 404
    assert (
        client.get(page("contacts:contact-detail", agent_a, sibling_contact.public_id)).status_code
        == 404
    )


# --- add and edit -----------------------------------------------------------------------


def test_adding_a_contact(owner: User, agent_a: Agent) -> None:
    response = client_for(owner).post(
        page("contacts:contact-add", agent_a),
        {"name": "Zoe", "email": "ZOE@example.com", "mobile_number": "", "status": "Active"},
    )
    zoe = Contact.objects.get(email="zoe@example.com")
    assert response.status_code == 302
    assert response["Location"] == page("contacts:contact-detail", agent_a, zoe.public_id)
    assert zoe.source == "form"
    event = AuditEvent.objects.get(action="create", resource=f"Contact {zoe.public_id}")
    assert event.user == owner and event.actor == owner.email


def test_errors_show_inline_and_keep_what_was_typed(owner: User, agent_a: Agent) -> None:
    response = client_for(owner).post(
        page("contacts:contact-add", agent_a),
        {"name": "Zoe Typed", "email": "zoe@", "mobile_number": "12", "status": "Active"},
    )
    assert response.status_code == 422
    text = html(response)
    assert "Enter a valid email address." in text
    assert "Enter a valid phone number" in text
    assert 'value="Zoe Typed"' in text and 'value="zoe@"' in text
    assert not Contact.objects.exists()


def test_a_similar_contact_is_warned_about_and_can_be_added_anyway(
    owner: User, agent_a: Agent, ann: Contact
) -> None:
    client = client_for(owner)
    form = {"name": "Annie", "email": "", "mobile_number": "(415) 555-2671", "status": "Active"}
    warned = client.post(page("contacts:contact-add", agent_a), form)
    assert warned.status_code == 200
    assert "A user with similar details already exists" in html(warned)
    assert "Ann Lee" in html(warned)
    assert 'value="Annie"' in html(warned)
    assert Contact.objects.count() == 1
    confirmed = client.post(
        page("contacts:contact-add", agent_a), {**form, "confirm_duplicate": "on"}
    )
    assert confirmed.status_code == 302
    assert Contact.objects.filter(name="Annie").exists()


def test_editing_a_contact(owner: User, agent_a: Agent, ann: Contact) -> None:
    client = client_for(owner)
    form = client.get(page("contacts:contact-edit", agent_a, ann.public_id))
    assert 'value="Ann Lee"' in html(form)
    response = client.post(
        page("contacts:contact-edit", agent_a, ann.public_id),
        {"name": "Ann B. Lee", "email": "ann@example.com", "status": "Inactive", "stage": "Lead"},
    )
    assert response.status_code == 302
    ann.refresh_from_db()
    assert (ann.name, ann.status, ann.stage, ann.version) == ("Ann B. Lee", "Inactive", "Lead", 2)
    assert AuditEvent.objects.filter(action="update", user=owner).exists()


def test_custom_fields_appear_in_the_form(owner: User, agent_a: Agent) -> None:
    CustomField.objects.create(agent=agent_a, key="seats", label="Seats", type="number")
    client = client_for(owner)
    assert "Seats" in html(client.get(page("contacts:contact-add", agent_a)))
    bad = client.post(
        page("contacts:contact-add", agent_a),
        {"email": "a@x.com", "status": "Active", "cf_seats": "many"},
    )
    assert bad.status_code == 422 and "Must be a number." in html(bad)
    client.post(
        page("contacts:contact-add", agent_a),
        {"email": "a@x.com", "status": "Active", "cf_seats": "12"},
    )
    assert Contact.objects.get().custom_fields == {"seats": 12}


# --- archive and delete -----------------------------------------------------------------


def test_archive_and_delete(owner: User, agent_a: Agent, ann: Contact) -> None:
    client = client_for(owner)
    client.post(page("contacts:contact-archive", agent_a, ann.public_id))
    ann.refresh_from_db()
    assert ann.archived
    assert "Ann Lee" not in html(client.get(page("contacts:contacts", agent_a)))
    assert "Ann Lee" in html(client.get(page("contacts:contacts", agent_a), {"archived": "1"}))
    confirm = client.get(page("contacts:contact-delete", agent_a, ann.public_id))
    assert "permanently deleted" in html(confirm)
    client.post(page("contacts:contact-delete", agent_a, ann.public_id))
    assert not Contact.objects.exists()
    actions = set(AuditEvent.objects.filter(user=owner).values_list("action", flat=True))
    assert {"update", "delete"} <= actions


# --- CSV import -------------------------------------------------------------------------

CSV = b"Name,Email,Mobile\nAnn,ann@x.com,\nBad,not-an-email,\nCy,,+14155552671\n"


def test_csv_import_previews_then_imports_the_good_rows(owner: User, agent_a: Agent) -> None:
    client = client_for(owner)
    preview = client.post(
        page("contacts:contact-import", agent_a), {"file": SimpleUploadedFile("people.csv", CSV)}
    )
    text = html(preview)
    assert preview.status_code == 200
    assert "2 ready to import" in text and "1 with problems" in text
    assert "Email: Enter a valid email address." in text
    assert not Contact.objects.exists()
    token = re.search(r'name="token" value="([0-9a-f]{32})"', text).group(1)
    done = client.post(
        page("contacts:contact-import-confirm", agent_a), {"token": token}, follow=True
    )
    assert "Imported 2 contacts. 1 row with problems was skipped." in html(done)
    assert set(Contact.objects.values_list("name", flat=True)) == {"Ann", "Cy"}
    assert AuditEvent.objects.filter(description="Imported 2 contacts from a CSV file").exists()
    again = client.post(
        page("contacts:contact-import-confirm", agent_a), {"token": token}, follow=True
    )
    assert "expired" in html(again) and Contact.objects.count() == 2


def test_a_missing_email_and_mobile_is_said_once(owner: User, agent_a: Agent) -> None:
    response = client_for(owner).post(page("contacts:contact-add", agent_a), {"name": "Ann"})
    assert response.status_code == 422
    assert html(response).count("Give at least an email or a mobile number.") == 1


def test_importing_one_contact_says_so_in_the_singular(owner: User, agent_a: Agent) -> None:
    client = client_for(owner)
    preview = client.post(
        page("contacts:contact-import", agent_a),
        {"file": SimpleUploadedFile("one.csv", b"Name,Email\nAnn,ann@x.com\n")},
    )
    token = re.search(r'name="token" value="([0-9a-f]{32})"', html(preview)).group(1)
    done = client.post(
        page("contacts:contact-import-confirm", agent_a), {"token": token}, follow=True
    )
    assert "Imported 1 contact." in html(done)
    assert AuditEvent.objects.filter(description="Imported 1 contact from a CSV file").exists()


def test_an_unusable_csv_is_refused_on_the_form(owner: User, agent_a: Agent) -> None:
    response = client_for(owner).post(
        page("contacts:contact-import", agent_a),
        {"file": SimpleUploadedFile("x.csv", b"name\nAnn\n")},
    )
    assert response.status_code == 422
    assert "needs an email or a mobile number column" in html(response)


def test_an_import_token_works_only_for_its_agent(owner: User, agent_a: Agent) -> None:
    client = client_for(owner)
    text = html(
        client.post(
            page("contacts:contact-import", agent_a), {"file": SimpleUploadedFile("p.csv", CSV)}
        )
    )
    token = re.search(r'name="token" value="([0-9a-f]{32})"', text).group(1)
    sibling = AgentFactory(organization=agent_a.organization)
    client.post(page("contacts:contact-import-confirm", sibling), {"token": token})
    assert not Contact.objects.exists()


# --- custom fields ----------------------------------------------------------------------


def test_custom_fields_are_managed_on_their_page(owner: User, agent_a: Agent) -> None:
    client = client_for(owner)
    response = client.post(
        page("contacts:contact-fields", agent_a),
        {"label": "Plan", "key": "plan", "type": "choice", "choices": "Free, Pro, Free"},
    )
    assert response.status_code == 302
    plan = CustomField.objects.get(agent=agent_a, key="plan")
    assert plan.choices == ["Free", "Pro"]
    duplicate = client.post(
        page("contacts:contact-fields", agent_a), {"label": "P", "key": "plan", "type": "text"}
    )
    assert duplicate.status_code == 422
    reserved = client.post(
        page("contacts:contact-fields", agent_a), {"label": "E", "key": "email", "type": "text"}
    )
    assert reserved.status_code == 422 and "default contact field" in html(reserved)
    no_choices = client.post(
        page("contacts:contact-fields", agent_a), {"label": "T", "key": "tier", "type": "choice"}
    )
    assert no_choices.status_code == 422
    client.post(page("contacts:contact-field-delete", agent_a, plan.pk))
    assert not CustomField.objects.exists()


# --- who may do what --------------------------------------------------------------------

VIEW_PAGES = ["contacts:contacts", "contacts:contact-fields"]
MANAGE_GETS = ["contacts:contact-add", "contacts:contact-import"]


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_every_member_may_look(request: Any, role: str, agent_a: Agent, ann: Contact) -> None:
    client = client_for(request.getfixturevalue(role))
    for name in VIEW_PAGES:
        assert client.get(page(name, agent_a)).status_code == 200
    assert client.get(page("contacts:contact-detail", agent_a, ann.public_id)).status_code == 200


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_may_change(request: Any, role: str, agent_a: Agent, ann: Contact):
    client = client_for(request.getfixturevalue(role))
    for name in MANAGE_GETS:
        assert client.get(page(name, agent_a)).status_code == 200
    assert client.get(page("contacts:contact-edit", agent_a, ann.public_id)).status_code == 200
    text = html(client.get(page("contacts:contacts", agent_a)))
    assert "Add Contact" in text and "Import CSV" in text


def test_users_get_403_for_every_change(member: User, agent_a: Agent, ann: Contact) -> None:
    client = client_for(member)
    assert "Add Contact" not in html(client.get(page("contacts:contacts", agent_a)))
    for name in MANAGE_GETS:
        assert client.get(page(name, agent_a)).status_code == 403
    for name in ("contacts:contact-edit", "contacts:contact-delete"):
        assert client.get(page(name, agent_a, ann.public_id)).status_code == 403
    posts = [
        page("contacts:contact-add", agent_a),
        page("contacts:contact-import", agent_a),
        page("contacts:contact-import-confirm", agent_a),
        page("contacts:contact-fields", agent_a),
        page("contacts:contact-edit", agent_a, ann.public_id),
        page("contacts:contact-archive", agent_a, ann.public_id),
        page("contacts:contact-delete", agent_a, ann.public_id),
    ]
    for path in posts:
        assert client.post(path, {"email": "x@x.com"}).status_code == 403, path
    ann.refresh_from_db()
    assert not ann.archived and Contact.objects.count() == 1


@pytest.mark.parametrize(
    "name",
    [
        "contacts:contacts",
        "contacts:contact-add",
        "contacts:contact-import",
        "contacts:contact-fields",
    ],
)
def test_strangers_get_404(stranger: User, agent_a: Agent, name: str) -> None:
    assert client_for(stranger).get(page(name, agent_a)).status_code == 404


def test_signed_out_visitors_are_sent_to_login(agent_a: Agent) -> None:
    response = Client().get(page("contacts:contacts", agent_a))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize(
    "name",
    [
        "contacts:contacts",
        "contacts:contact-add",
        "contacts:contact-import",
        "contacts:contact-fields",
    ],
)
def test_pages_have_no_inline_script_or_style(owner: User, agent_a: Agent, name: str) -> None:
    response = client_for(owner).get(page(name, agent_a))
    text = html(response)
    nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert " style=" not in text and "<style" not in text
    for tag in re.findall(r"<script[^>]*>", text):
        assert "src=" in tag or f'nonce="{nonce}"' in tag, tag
