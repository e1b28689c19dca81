from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from accounts.models import Agent, AuditAction, AuditEvent
from extraction.models import Document, Status
from tests.access_matrix import walk_access_matrix
from tests.factories import AgentFactory, make_key

pytestmark = pytest.mark.django_db

INVOICE_TEXT = b"""ACME Supplies Ltd
Invoice number: INV-2026-0042
Date: 2026-03-14
Contact: billing@acme-supplies.com  +44 20 7946 0958
Total: EUR 1,234.50
"""


def upload(name: str = "invoice.txt", data: bytes = INVOICE_TEXT) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def base(agent: Agent) -> str:
    return f"/v1/open/document-extraction/chatbots/{agent.public_id}"


def one(agent: Agent, document_id: str) -> str:
    return f"/v1/open/document-extraction/{document_id}/chatbots/{agent.public_id}"


@pytest.fixture
def sibling(agent_a: Agent) -> Agent:
    return AgentFactory(organization=agent_a.organization, name="Sibling")


@pytest.fixture
def documents_key(agent_a: Agent) -> str:
    return make_key(
        agent_a,
        "documents_create",
        "documents_read",
        "documents_update",
        "documents_delete",
        rate_limit_per_minute=1000,
    )[1]


@pytest.fixture
def submit(
    client: Client, agent_a: Agent, documents_key: str, django_capture_on_commit_callbacks
) -> Callable[..., Any]:
    def submit(file: SimpleUploadedFile | None = None, **form: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                base(agent_a),
                {"file": file or upload(), **form},
                headers={"x-api-key": documents_key},
            )

    return submit


def test_upload_is_accepted_then_extracted(
    client: Client, agent_a: Agent, documents_key: str, submit
) -> None:
    response = submit(documentType="invoice")

    assert response.status_code == 202
    job = response.json()["data"]
    assert job["status"] == "queued" and job["mediaType"] == "text/plain"
    read = client.get(one(agent_a, job["id"]), headers={"x-api-key": documents_key}).json()["data"]
    assert read["status"] == "succeeded"
    assert "INV-2026-0042" in read["pages"][0]["text"]
    fields = {f["name"]: f for f in read["fields"]}
    assert fields["invoice_number"]["value"] == "INV-2026-0042"
    assert "billing@acme-supplies.com" in str(read["entities"]["emails"])
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, actor__startswith="API key"
    ).exists()


def test_a_renamed_file_is_refused_with_415(submit) -> None:
    png_header = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    response = submit(upload("notes.txt", png_header))
    assert response.status_code == 415
    assert not Document.objects.exists()


def test_an_unsupported_type_is_refused_with_415(submit) -> None:
    response = submit(upload("animation.gif", b"GIF89a" + b"\x00" * 60))
    assert response.status_code == 415


def test_an_empty_file_is_refused(submit) -> None:
    response = submit(upload("empty.txt", b""))
    assert response.status_code == 422
    assert "empty" in response.json()["message"]


@override_settings(
    EXTRACTION_LIMITS={"max_bytes": 100, "max_pages": 5, "max_pixels": 10**6, "timeout_seconds": 5}
)
def test_a_file_over_the_cap_is_refused_with_413(submit) -> None:
    response = submit(upload("big.txt", b"a" * 101))
    assert response.status_code == 413
    assert response.json()["success"] is False


@override_settings(
    EXTRACTION_LIMITS={"max_bytes": 100, "max_pages": 5, "max_pixels": 10**6, "timeout_seconds": 5}
)
def test_an_oversized_body_is_refused_before_it_is_read(
    submit, client: Client, agent_a: Agent
) -> None:
    huge = upload("big.txt", b"a" * (200 * 1024))
    response = submit(huge)
    assert response.status_code == 413
    assert response.json()["message"] == "The file is larger than the 100 bytes limit."
    # a key that may not upload hears that first, whatever the size
    reader = make_key(agent_a, "documents_read")[1]
    huge.seek(0)
    response = client.post(base(agent_a), {"file": huge}, headers={"x-api-key": reader})
    assert response.status_code == 403
    assert not Document.objects.exists()


def test_a_bad_schema_is_a_422_naming_the_field(submit) -> None:
    response = submit(schema='[{"name": "po", "type": "colour"}]')
    assert response.status_code == 422
    assert "schema.0.type" in response.json()["errors"]
    assert submit(schema="not json").status_code == 422


def test_a_schema_field_is_extracted(
    client: Client, agent_a: Agent, documents_key: str, submit
) -> None:
    job = submit(schema='[{"name": "total", "type": "money", "hint": "Total"}]').json()["data"]
    read = client.get(one(agent_a, job["id"]), headers={"x-api-key": documents_key}).json()["data"]
    assert "total" in {f["name"] for f in read["fields"]}


def test_a_corrupt_pdf_fails_with_a_reason_and_the_worker_goes_on(
    client: Client, agent_a: Agent, documents_key: str, submit
) -> None:
    bad = submit(upload("broken.pdf", b"%PDF-1.7\n" + b"garbage" * 50)).json()["data"]
    good = submit().json()["data"]

    bad_read = client.get(one(agent_a, bad["id"]), headers={"x-api-key": documents_key}).json()[
        "data"
    ]
    assert bad_read["status"] == "failed"
    assert bad_read["failure"]["reason"]
    assert Document.objects.get(public_id=good["id"]).status == Status.SUCCEEDED
    assert Document.objects.get(public_id=bad["id"]).file.storage.exists(
        Document.objects.get(public_id=bad["id"]).file.name
    )


def test_list_paginates_and_filters(
    client: Client, agent_a: Agent, documents_key: str, submit
) -> None:
    for _ in range(3):
        submit()
    response = client.get(
        base(agent_a),
        {"limit": 2, "page": 2, "status": "succeeded"},
        headers={"x-api-key": documents_key},
    )
    body = response.json()
    assert response.status_code == 200
    assert body["pagination"] == {"page": 2, "limit": 2, "total": 3, "totalPages": 2}
    assert len(body["data"]) == 1 and body["data"][0]["pages"] is None
    assert (
        client.get(base(agent_a), {"limit": 101}, headers={"x-api-key": documents_key}).status_code
        == 422
    )


def test_corrections_override_fields(
    client: Client, agent_a: Agent, documents_key: str, submit
) -> None:
    job = submit(documentType="invoice").json()["data"]
    response = client.patch(
        one(agent_a, job["id"]),
        {"fields": {"invoice_number": "INV-43"}},
        content_type="application/json",
        headers={"x-api-key": documents_key},
    )
    assert response.status_code == 200
    fields = {f["name"]: f for f in response.json()["data"]["fields"]}
    assert fields["invoice_number"]["value"] == "INV-43" and fields["invoice_number"]["corrected"]
    assert fields["invoice_number"]["normalized"] == "INV-43"  # not the value read before


def test_a_correction_longer_than_1000_characters_is_refused(
    client: Client, agent_a: Agent, documents_key: str, submit
) -> None:
    job = submit(documentType="invoice").json()["data"]
    response = client.patch(
        one(agent_a, job["id"]),
        {"fields": {"invoice_number": "x" * 1001}},
        content_type="application/json",
        headers={"x-api-key": documents_key},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {"invoice_number": ["Values are at most 1000 characters."]}
    assert Document.objects.get(public_id=job["id"]).corrections == {}


def test_rerun_queues_again(
    client: Client, agent_a: Agent, documents_key: str, submit, django_capture_on_commit_callbacks
) -> None:
    job = submit().json()["data"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            one(agent_a, job["id"]) + "/rerun", headers={"x-api-key": documents_key}
        )
    assert response.status_code == 202
    assert Document.objects.get(public_id=job["id"]).attempts == 2


def test_delete_removes_the_file_and_results(
    client: Client, agent_a: Agent, documents_key: str, submit, django_capture_on_commit_callbacks
) -> None:
    job = submit().json()["data"]
    document = Document.objects.get(public_id=job["id"])
    storage, name = document.file.storage, document.file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(one(agent_a, job["id"]), headers={"x-api-key": documents_key})
    assert response.status_code == 200
    assert not Document.objects.exists()
    assert not storage.exists(name)
    assert (
        client.get(one(agent_a, job["id"]), headers={"x-api-key": documents_key}).status_code == 404
    )


def test_another_agents_document_is_not_found(
    client: Client, agent_a: Agent, sibling: Agent, submit
) -> None:
    job = submit().json()["data"]
    _, sibling_key = make_key(sibling, "documents_read")
    response = client.get(one(sibling, job["id"]), headers={"x-api-key": sibling_key})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "needs", "kwargs"),
    [
        ("post", "", "documents_create", {}),
        ("get", "", "documents_read", {}),
        ("get", "one", "documents_read", {}),
        (
            "patch",
            "one",
            "documents_update",
            {"data": {"fields": {}}, "content_type": "application/json"},
        ),
        ("post", "rerun", "documents_update", {}),
        ("delete", "one", "documents_delete", {}),
    ],
)
def test_every_endpoint_walks_the_access_matrix(
    client: Client,
    agent_a: Agent,
    sibling: Agent,
    agent_b: Agent,
    submit,
    method: str,
    suffix: str,
    needs: str,
    kwargs: dict,
) -> None:
    job = submit().json()["data"]
    url = (
        base(agent_a)
        if not suffix
        else one(agent_a, job["id"]) + ("/rerun" if suffix == "rerun" else "")
    )
    if method == "post" and not suffix:
        kwargs = {"data": {"file": upload()}}
        url_factory = lambda: url  # noqa: E731
    else:
        url_factory = lambda: url  # noqa: E731
    walk_access_matrix(
        client,
        method,
        url_factory,
        needs=needs,
        agent=agent_a,
        other_agent=sibling,
        other_org_agent=agent_b,
        **kwargs,
    )
