from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Agent, AuditAction, AuditEvent, User
from extraction.models import Document
from extraction.pipeline import extract
from extraction.synthetic import PdfPage, write_pdf
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


# --------------------------------------------------------------------------- field review


def reviewed_document(agent: Agent) -> Document:
    """A finished PDF invoice whose fields carry their source boxes."""
    page = PdfPage()
    page.add(50, 60, "Blue Harbor Design GmbH", 18)
    page.add(50, 100, "Invoice No. INV-2024-117")
    page.add(50, 116, "Invoice date: 5 March 2024")
    page.add(50, 132, "Amount due 1.279,84 €")
    data = write_pdf([page], "glyph")
    document = make_document(agent, data)
    Document.objects.filter(pk=document.pk).update(media_type="application/pdf")
    document.refresh_from_db()
    document.claim("test-worker")
    document.succeed(extract(data, "invoice.pdf", doc_type="invoice").to_dict(), "test-worker")
    return document


def field_url(view: str, agent: Agent, document: Document, **query: str) -> str:
    url = reverse(view, args=[agent.public_id, document.public_id])
    return f"{url}?{urlencode(query)}" if query else url


def test_fields_carry_their_source_box_for_the_page_picture(member: User, agent_a: Agent) -> None:
    document = reviewed_document(agent_a)
    html = client_for(member).get(field_url("document-detail", agent_a, document)).content.decode()
    assert 'class="page-frame" data-page="1" data-width="595.0" data-height="842.0"' in html
    row = re.search(r'<tr id="field-invoice_number"[^>]*>', html).group(0)
    x0, y0, x1, y1 = map(float, re.search(r'data-box="([^"]+)"', row).group(1).split(","))
    assert 'data-page="1"' in row and 'tabindex="0"' in row
    assert 49 < x0 < 51 and 90 < y0 < y1 < 104 and x1 > 150
    assert "js/document.js" in html
    assert "Correct" not in re.sub(r"Correct a value", "", html)  # Users read, they do not edit


def test_owner_corrects_a_value_in_place(owner: User, agent_a: Agent) -> None:
    document = reviewed_document(agent_a)
    client = client_for(owner)
    form = client.get(
        field_url("document-field-edit", agent_a, document, name="invoice_number"),
        headers={"HX-Request": "true"},
    ).content.decode()
    assert 'name="value" value="INV-2024-117"' in form and "<form" in form
    response = client.post(
        field_url("document-field", agent_a, document),
        {"name": "invoice_number", "value": " INV-2024-118 "},
        headers={"HX-Request": "true"},
    )
    row = response.content.decode()
    assert response.status_code == 200 and "INV-2024-118" in row and "Corrected" in row
    document.refresh_from_db()
    assert document.corrections == {"invoice_number": "INV-2024-118"}
    assert document.field_value("invoice_number") == "INV-2024-118"
    event = AuditEvent.objects.filter(action=AuditAction.UPDATE).get()
    assert event.actor == owner.email and event.description == "Corrected fields: invoice_number"
    assert document.public_id in event.resource


def test_without_javascript_the_correction_form_is_a_page(admin: User, agent_a: Agent) -> None:
    document = reviewed_document(agent_a)
    client = client_for(admin)
    page = client.get(field_url("document-detail", agent_a, document, edit="amount")).content
    assert b'name="value" value="1.279,84"' in page
    response = client.post(
        field_url("document-field", agent_a, document), {"name": "amount", "value": "1279.84"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith(field_url("document-detail", agent_a, document))
    document.refresh_from_db()
    assert document.corrections == {"amount": "1279.84"}


def test_an_emptied_value_means_the_document_has_none(owner: User, agent_a: Agent) -> None:
    document = reviewed_document(agent_a)
    client_for(owner).post(
        field_url("document-field", agent_a, document),
        {"name": "issuer", "value": "  "},
        headers={"HX-Request": "true"},
    )
    document.refresh_from_db()
    assert document.corrections == {"issuer": None}


def test_a_too_long_value_is_refused_inline_and_kept(owner: User, agent_a: Agent) -> None:
    document = reviewed_document(agent_a)
    typed = "x" * 1001
    response = client_for(owner).post(
        field_url("document-field", agent_a, document),
        {"name": "invoice_number", "value": typed},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "Values are at most 1000 characters." in html and f'value="{typed}"' in html
    document.refresh_from_db()
    assert document.corrections == {}
    assert not AuditEvent.objects.filter(action=AuditAction.UPDATE).exists()


def test_users_see_values_read_only(member: User, agent_a: Agent) -> None:
    document = reviewed_document(agent_a)
    client = client_for(member)
    edit = field_url("document-field-edit", agent_a, document, name="amount")
    assert client.get(edit).status_code == 403
    response = client.post(
        field_url("document-field", agent_a, document), {"name": "amount", "value": "1"}
    )
    assert response.status_code == 403
    document.refresh_from_db()
    assert document.corrections == {}


def test_unknown_fields_and_strangers_get_404(owner: User, stranger: User, agent_a: Agent) -> None:
    document = reviewed_document(agent_a)
    assert (
        client_for(owner)
        .get(field_url("document-field-edit", agent_a, document, name="nope"))
        .status_code
        == 404
    )
    for name in ("document-field-edit", "document-field"):
        url = field_url(name, agent_a, document, name="amount")
        assert client_for(stranger).get(url).status_code == 404


def _pdf_document(agent: Agent, data: bytes) -> Document:
    document = make_document(agent, data)
    Document.objects.filter(pk=document.pk).update(media_type="application/pdf")
    document.refresh_from_db()
    return document


def test_the_preview_renders_a_pdf_page_and_refuses_pages_it_does_not_have(
    member: User, agent_a: Agent
) -> None:
    page = PdfPage()
    page.add(72, 72, "Invoice number INV-1")
    document = _pdf_document(agent_a, write_pdf([page]))
    client = client_for(member)

    def preview(number: int):
        return client.get(
            reverse("document-preview", args=[agent_a.public_id, document.public_id, number])
        )

    first = preview(1)
    assert first.status_code == 200 and first["Content-Type"] == "image/png"
    assert first.content.startswith(b"\x89PNG")
    assert preview(2).status_code == 404


def test_the_preview_of_a_damaged_pdf_is_a_404_not_a_server_error(
    member: User, agent_a: Agent
) -> None:
    document = _pdf_document(agent_a, b"%PDF-1.7\nnot really a PDF")
    response = client_for(member).get(
        reverse("document-preview", args=[agent_a.public_id, document.public_id, 1])
    )
    assert response.status_code == 404
