"""Contact files: upload (size cap, sniffed type), list, download, delete."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from accounts.models import Agent, AuditEvent
from contacts.models import Contact, ContactFile
from tests.contacts.conftest import Api, by_id, url
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def docx_bytes(extra: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        if extra:
            archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


SAMPLES = {
    "report.pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf"),
    "photo.png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image/png"),
    "photo.jpg": (b"\xff\xd8\xff\xe0" + b"\x00" * 32, "image/jpeg"),
    "anim.gif": (b"GIF89a" + b"\x00" * 32, "image/gif"),
    "pic.webp": (b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32, "image/webp"),
    "letter.docx": (
        docx_bytes(),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "notes.txt": ("Grüße\nline two\n".encode(), "text/plain"),
    "people.csv": (b"name,email\nAnn,ann@x.com\n", "text/csv"),
    "README": (b"plain words", "text/plain"),
}


def files_url(agent: Agent, contact: Contact) -> str:
    return url("upload_contact_file", agent_id=agent.public_id, contact_id=contact.public_id)


def file_url(agent: Agent, contact: Contact, stored_id: str) -> str:
    return url(
        "download_contact_file",
        agent_id=agent.public_id,
        contact_id=contact.public_id,
        file_id=stored_id,
    )


def upload(api: Api, agent: Agent, contact: Contact, name: str, content: bytes) -> Any:
    return api.post(files_url(agent, contact), files={"file": SimpleUploadedFile(name, content)})


@pytest.mark.parametrize("name", list(SAMPLES))
def test_allowed_types_are_stored_with_their_sniffed_type(
    api: Api, agent_a: Agent, jane: Contact, name: str
) -> None:
    content, content_type = SAMPLES[name]
    response = upload(api, agent_a, jane, name, content)
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["name"] == name
    assert data["contentType"] == content_type
    assert data["size"] == len(content)
    assert data["sha256"] == hashlib.sha256(content).hexdigest()
    stored = ContactFile.objects.get(public_id=data["id"])
    assert stored.file.name.startswith(f"contacts/{agent_a.public_id}/{jane.public_id}/")
    assert name not in stored.file.name  # the client's name never reaches the file system


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00"),
        ("setup.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00"),
        ("photo.pdf", SAMPLES["photo.png"][0]),
        ("report.txt", SAMPLES["report.pdf"][0]),
        ("sheet.docx", docx_bytes(extra=False)),
        ("data.txt", b"\x00\x01\x02binary"),
        ("latin1.txt", "caf\xe9".encode("latin-1") + b"\xff\xfe"),
        ("empty.txt", b""),
    ],
)
def test_other_or_renamed_files_are_415(
    api: Api, agent_a: Agent, jane: Contact, name: str, content: bytes
) -> None:
    response = upload(api, agent_a, jane, name, content)
    assert response.status_code == 415, response.content
    assert response.json()["success"] is False
    assert not ContactFile.objects.exists()


@override_settings(CONTACT_FILE_MAX_BYTES=100)
def test_a_file_over_the_cap_is_413(api: Api, agent_a: Agent, jane: Contact) -> None:
    response = upload(api, agent_a, jane, "big.txt", b"a" * 101)
    assert response.status_code == 413
    assert "limit" in response.json()["message"]
    assert upload(api, agent_a, jane, "ok.txt", b"a" * 100).status_code == 201


@override_settings(CONTACT_FILE_MAX_BYTES=100)
def test_an_oversized_body_is_refused_before_it_is_read(
    api: Api, agent_a: Agent, jane: Contact
) -> None:
    response = upload(api, agent_a, jane, "big.txt", b"a" * (200 * 1024))
    assert response.status_code == 413
    assert response.json()["success"] is False


def test_an_upload_without_a_file_is_422(api: Api, agent_a: Agent, jane: Contact) -> None:
    response = api.post(files_url(agent_a, jane), files={"other": "x"})
    assert response.status_code == 422


def test_list_download_and_delete(
    api: Api, agent_a: Agent, jane: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    first = upload(api, agent_a, jane, "notes.txt", b"hello").json()["data"]
    upload(api, agent_a, jane, "more.csv", b"a,b\n1,2\n")
    listing = api.get(files_url(agent_a, jane)).json()
    assert listing["pagination"]["total"] == 2
    assert {f["name"] for f in listing["data"]} == {"notes.txt", "more.csv"}

    download = api.get(first["downloadUrl"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"hello"
    assert download["Content-Disposition"] == 'attachment; filename="notes.txt"'
    assert download["Content-Type"] == "text/plain"

    name = ContactFile.objects.get(public_id=first["id"]).file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(file_url(agent_a, jane, first["id"]))
    assert response.status_code == 200
    assert not default_storage.exists(name)
    assert api.get(first["downloadUrl"]).status_code == 404
    descriptions = list(AuditEvent.objects.values_list("description", flat=True))
    assert any(d.startswith('Uploaded file "notes.txt"') for d in descriptions)
    assert any(d.startswith('Deleted file "notes.txt"') for d in descriptions)


def test_a_file_is_reached_only_through_its_own_contact(
    api: Api, agent_a: Agent, jane: Contact
) -> None:
    other = ContactFactory(agent=agent_a)
    stored = upload(api, agent_a, jane, "notes.txt", b"hello").json()["data"]
    assert api.get(file_url(agent_a, other, stored["id"])).status_code == 404
    assert api.delete(file_url(agent_a, other, stored["id"])).status_code == 404
    assert ContactFile.objects.filter(public_id=stored["id"]).exists()


def test_deleting_a_contact_removes_its_files(
    api: Api, agent_a: Agent, jane: Contact, django_capture_on_commit_callbacks: Any
) -> None:
    upload(api, agent_a, jane, "notes.txt", b"hello")
    name = ContactFile.objects.get().file.name
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(by_id(agent_a, jane)).status_code == 200
    assert not default_storage.exists(name)
    assert not ContactFile.objects.exists()


@override_settings(CONTACT_FILE_MAX_BYTES=100)
def test_an_oversized_upload_without_the_permission_is_403_not_413(
    agent_a: Agent, jane: Contact
) -> None:
    from tests.contacts.conftest import api_for

    reader = api_for(agent_a, "contacts_read")
    response = upload(reader, agent_a, jane, "big.txt", b"a" * (200 * 1024))
    assert response.status_code == 403
    nobody = Api(None)
    assert upload(nobody, agent_a, jane, "big.txt", b"a" * (200 * 1024)).status_code == 401
