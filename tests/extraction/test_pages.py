from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Agent, User
from extraction.models import Document
from tests.conftest import client_for
from tests.extraction.test_jobs import make_document

pytestmark = pytest.mark.django_db


def test_documents_page_lists_uploads_with_status(owner: User, agent_a: Agent) -> None:
    document = make_document(agent_a)
    response = client_for(owner).get(reverse("documents", args=[agent_a.public_id]))
    html = response.content.decode()
    assert response.status_code == 200
    assert document.original_name in html and "Queued" in html


def test_empty_documents_page(member: User, agent_a: Agent) -> None:
    response = client_for(member).get(reverse("documents", args=[agent_a.public_id]))
    assert "No documents yet." in response.content.decode()
    assert "Upload" not in response.content.decode()  # Users view, Owners/Admins upload


def test_detail_shows_fields_beside_the_page(owner: User, agent_a: Agent) -> None:
    document = make_document(agent_a)
    document.claim("test-worker")
    document.succeed(
        {
            "pages": [
                {
                    "number": 1,
                    "text": "Invoice number: INV-1",
                    "width": None,
                    "height": None,
                    "method": "text-layer",
                }
            ],
            "fields": [
                {
                    "name": "invoice_number",
                    "value": "INV-1",
                    "normalized": "INV-1",
                    "confidence": 0.9,
                    "source": {"page": 1, "box": None, "text": "INV-1"},
                }
            ],
        },
        "test-worker",
    )
    response = client_for(owner).get(
        reverse("document-detail", args=[agent_a.public_id, document.public_id])
    )
    html = response.content.decode()
    assert "invoice_number" in html and "Invoice number: INV-1" in html


def test_upload_from_the_page(
    admin: User, agent_a: Agent, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).post(
            reverse("document-upload", args=[agent_a.public_id]),
            {
                "file": SimpleUploadedFile("note.txt", b"Hello, call +1 415 555 0100"),
                "document_type": "generic",
            },
        )
    document = Document.objects.get()
    assert response.status_code == 302 and document.public_id in response["Location"]
    assert document.status == "succeeded"


def test_a_renamed_upload_is_refused_on_the_page(admin: User, agent_a: Agent) -> None:
    client = client_for(admin)
    response = client.post(
        reverse("document-upload", args=[agent_a.public_id]),
        {"file": SimpleUploadedFile("x.pdf", b"just text")},
        follow=True,
    )
    assert not Document.objects.exists()
    assert "pdf" in response.content.decode().lower()


def test_users_cannot_upload_or_delete(member: User, agent_a: Agent) -> None:
    document = make_document(agent_a)
    client = client_for(member)
    assert client.post(reverse("document-upload", args=[agent_a.public_id])).status_code == 403
    assert (
        client.post(
            reverse("document-delete", args=[agent_a.public_id, document.public_id])
        ).status_code
        == 403
    )


def test_strangers_get_404(stranger: User, agent_a: Agent) -> None:
    document = make_document(agent_a)
    client = client_for(stranger)
    assert (
        client.get(
            reverse("document-detail", args=[agent_a.public_id, document.public_id])
        ).status_code
        == 404
    )
    assert (
        client.get(
            reverse("document-preview", args=[agent_a.public_id, document.public_id, 1])
        ).status_code
        == 404
    )


HTMX = {"HX-Request": "true"}


def test_the_documents_table_polls_while_a_job_runs_and_stops_when_it_ends(
    owner: User, agent_a: Agent
) -> None:
    document = make_document(agent_a)
    client = client_for(owner)
    url = reverse("documents", args=[agent_a.public_id])
    assert 'hx-trigger="every 2s"' in client.get(url).content.decode()
    document.claim("test-worker")
    polled = client.get(url, headers=HTMX).content.decode()
    assert "Processing" in polled and 'hx-trigger="every 2s"' in polled
    document.succeed({"pages": [], "fields": []}, "test-worker")
    finished = client.get(url, headers=HTMX).content.decode()
    assert "Succeeded" in finished and "hx-trigger" not in finished


def test_the_document_page_polls_its_status_and_reloads_when_the_job_ends(
    owner: User, agent_a: Agent
) -> None:
    document = make_document(agent_a)
    client = client_for(owner)
    url = reverse("document-detail", args=[agent_a.public_id, document.public_id])
    page = client.get(url).content.decode()
    assert f'hx-get="{url}?poll=1" hx-trigger="every 2s"' in page
    running = client.get(url, {"poll": "1"}, headers=HTMX)
    assert "Queued" in running.content.decode() and "HX-Refresh" not in running
    document.claim("test-worker")
    document.succeed({"pages": [], "fields": []}, "test-worker")
    ended = client.get(url, {"poll": "1"}, headers=HTMX)
    assert ended["HX-Refresh"] == "true"
    assert "hx-trigger" not in client.get(url).content.decode()


def test_deleting_a_document_asks_first(owner: User, agent_a: Agent) -> None:
    document = make_document(agent_a)
    client = client_for(owner)
    detail = client.get(reverse("document-detail", args=[agent_a.public_id, document.public_id]))
    delete_url = reverse("document-delete", args=[agent_a.public_id, document.public_id])
    assert f'href="{delete_url}"' in detail.content.decode()
    confirm = client.get(delete_url)
    assert confirm.status_code == 200
    assert "permanently deleted" in confirm.content.decode()
    assert Document.objects.filter(pk=document.pk).exists()
    client.post(delete_url)
    assert not Document.objects.filter(pk=document.pk).exists()
