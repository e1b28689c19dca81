"""Requests the Open API must refuse in its envelope, never with a 500 or an HTML page:
bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (413), broken multipart (400), bodies that are not
UTF-8 `application/json` (415/400), NUL characters (422), oversized URLs and headers
(414/431). And HEAD wherever GET is answered; the OpenAPI document's security schemes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

from accounts.models import Agent
from contacts.models import Contact
from tests.factories import ContactFactory, all_permissions, make_key

pytestmark = pytest.mark.django_db

JSON = "application/json"


@pytest.fixture
def key(agent_a: Agent) -> str:
    _, full = make_key(agent_a, *all_permissions(), rate_limit_per_minute=1000)
    return full


@pytest.fixture
def api(key: str) -> Client:
    client = Client(headers={"x-api-key": key})
    client.raise_request_exception = False
    return client


def envelope(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith(JSON)
    body = response.json()
    assert body["success"] is False and body["message"] and isinstance(body["errors"], dict)
    return body


def contacts_url(agent: Agent) -> str:
    return f"/v1/open/contacts/chatbots/{agent.public_id}"


# --- 1. a JSON body over DATA_UPLOAD_MAX_MEMORY_SIZE -----------------------------------------


def json_write_targets(agent: Agent) -> list[tuple[str, str]]:
    contact = ContactFactory(agent=agent, external_reference_id="big-1")
    base = "/v1/open/contacts"
    return [
        ("post", f"{base}/chatbots/{agent.public_id}"),
        ("put", f"{base}/big-1/chatbots/{agent.public_id}"),
        ("put", f"{base}/mantisid/{contact.public_id}/chatbots/{agent.public_id}"),
        ("patch", f"{base}/big-1/chatbots/{agent.public_id}/archive"),
        ("patch", f"/v1/open/document-extraction/{'a' * 24}/chatbots/{agent.public_id}"),
    ]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024 * 1024)
def test_a_json_body_over_the_limit_is_413_on_every_write_endpoint(
    api: Client, agent_a: Agent
) -> None:
    big = json.dumps({"name": "a" * (1024 * 1024 + 10), "email": "a@example.com"})
    for method, url in json_write_targets(agent_a):
        response = getattr(api, method)(url, big, content_type=JSON)
        body = envelope(response, 413)
        assert "larger than the 1 MB limit" in body["message"], (method, url)


# --- 2. broken multipart -----------------------------------------------------------------------


def upload_urls(agent: Agent) -> list[str]:
    contact = ContactFactory(agent=agent)
    return [
        f"/v1/open/document-extraction/chatbots/{agent.public_id}",
        f"/v1/open/contacts/mantisid/{contact.public_id}/files/chatbots/{agent.public_id}",
    ]


def test_multipart_without_a_boundary_is_400(api: Client, agent_a: Agent) -> None:
    for url in upload_urls(agent_a):
        response = api.post(url, b"x", content_type="multipart/form-data")
        body = envelope(response, 400)
        assert "multipart" in body["message"], url


def test_multipart_with_too_many_fields_is_400(api: Client, agent_a: Agent) -> None:
    boundary = "hostile"
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n'
        for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 5)
    )
    data = (parts + f"--{boundary}--\r\n").encode()
    for url in upload_urls(agent_a):
        response = api.post(url, data, content_type=f"multipart/form-data; boundary={boundary}")
        body = envelope(response, 400)
        assert "too many" in body["message"], url


def test_an_upload_that_is_not_multipart_is_415(api: Client, agent_a: Agent) -> None:
    for url in upload_urls(agent_a):
        response = api.post(url, {"file": "x"}, content_type=JSON)
        body = envelope(response, 415)
        assert "multipart/form-data" in body["message"], url


# --- 4. oversized URL and headers --------------------------------------------------------------


def test_a_10_kb_query_string_is_414_in_the_envelope(api: Client, agent_a: Agent) -> None:
    response = api.get(contacts_url(agent_a), {"search": "a" * 10_000})
    body = envelope(response, 414)
    assert "URL is longer than 8,192 bytes" in body["message"]


def test_a_20_kb_header_is_431_in_the_envelope(api: Client, agent_a: Agent) -> None:
    response = api.get(contacts_url(agent_a), headers={"X-Padding": "a" * 20_000})
    body = envelope(response, 431)
    assert "header is longer than 8,192 bytes" in body["message"]


def test_many_headers_adding_up_past_the_cap_are_431(api: Client) -> None:
    headers = {f"X-Pad-{i}": "a" * 4000 for i in range(10)}
    envelope(api.get("/v1/open/health", headers=headers), 431)


# --- 5. HEAD wherever GET is answered ---------------------------------------------------------


def test_head_on_health_answers_like_get_without_a_body(client: Client) -> None:
    get = client.get("/v1/open/health")
    head = client.head("/v1/open/health")
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head["Content-Type"] == get["Content-Type"]
    assert head["Content-Length"] == str(len(get.content))


def test_head_answers_on_every_get_operation_of_the_openapi_document(
    api: Client, agent_a: Agent
) -> None:
    contact = ContactFactory(agent=agent_a, external_reference_id="head-1")
    values = {
        "agent_id": agent_a.public_id,
        "contact_id": contact.public_id,
        "external_reference_id": "head-1",
        "document_id": "b" * 24,
        "file_id": "c" * 24,
    }
    document = api.get("/v1/open/openapi.json").json()
    gets = [path for path, ops in document["paths"].items() if "get" in ops]
    assert len(gets) >= 8
    for path in gets:
        url = path.format(**values)
        get, head = api.get(url), api.head(url)
        assert head.status_code == get.status_code, (url, head.status_code, get.status_code)
        assert head.status_code != 405, url
        assert head.content == b"", url
        assert head["Content-Type"] == get["Content-Type"], url


def test_head_on_a_post_only_path_is_still_405(api: Client, agent_a: Agent) -> None:
    url = f"/v1/open/document-extraction/{'a' * 24}/chatbots/{agent_a.public_id}/rerun"
    response = api.head(url)
    assert response.status_code == 405
    assert response.content == b""


# --- 7. content types, NUL characters, security schemes ----------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", '{"name": "Ann", "email": "ann@example.com"}', 415),
        ("application/x-www-form-urlencoded", "name=Ann&email=ann@example.com", 415),
        ("application/json; charset=utf-16", '{"name": "Ann", "email": "a@example.com"}', 415),
        (JSON, '{"name": "Ann", "email": "ann@example.com"}'.encode("utf-16"), 400),
        (JSON, b'{"name": "\xff"}', 400),
        (JSON, "{not json", 400),
    ],
)
def test_a_body_that_is_not_utf8_json_is_refused(
    api: Client, agent_a: Agent, content_type: str, body: Any, status: int
) -> None:
    response = api.post(contacts_url(agent_a), body, content_type=content_type)
    envelope(response, status)
    assert not Contact.objects.exists()


def test_json_with_a_charset_and_json_suffix_types_are_accepted(
    api: Client, agent_a: Agent
) -> None:
    types = ("application/json; charset=utf-8", "application/merge-patch+json")
    for number, content_type in enumerate(types):
        response = api.post(
            contacts_url(agent_a),
            json.dumps({"email": f"c{number}@example.com"}),
            content_type=content_type,
        )
        assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Ann\u0000Lee", "email": "ann@example.com"}, "name"),
        ({"email": "ann@example.com", "customFields": {"plan": "P\u0000"}}, "customFields.plan"),
        ({"email": "ann@example.com", "externalReferenceId": "x\u0000"}, "externalReferenceId"),
    ],
)
def test_a_nul_character_in_a_contact_is_422_on_every_database(
    api: Client, agent_a: Agent, payload: dict[str, Any], field: str
) -> None:
    response = api.post(contacts_url(agent_a), json.dumps(payload), content_type=JSON)
    body = envelope(response, 422)
    assert field in body["errors"]
    assert "NUL" in body["message"]
    assert not Contact.objects.exists()


def test_a_nul_character_in_a_document_correction_is_422(api: Client, agent_a: Agent) -> None:
    url = f"/v1/open/document-extraction/{'a' * 24}/chatbots/{agent_a.public_id}"
    response = api.patch(url, json.dumps({"fields": {"total": "1\u0000"}}), content_type=JSON)
    assert "fields.total" in envelope(response, 422)["errors"]


def test_a_nul_character_in_the_query_string_is_422(api: Client, agent_a: Agent) -> None:
    response = api.get(contacts_url(agent_a) + "?search=a%00b")
    assert envelope(response, 422)["errors"] == {"search": [response.json()["message"]]}


def test_a_nul_character_in_an_upload_is_422(api: Client, agent_a: Agent) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = f"/v1/open/document-extraction/chatbots/{agent_a.public_id}"
    schema = json.dumps([{"name": "total", "type": "money", "hint": "x\u0000"}])
    response = api.post(url, {"file": SimpleUploadedFile("a.txt", b"Total 1.00"), "schema": schema})
    assert "schema.0.hint" in envelope(response, 422)["errors"]


def test_the_openapi_document_declares_every_way_to_send_a_key(client: Client) -> None:
    document = client.get("/v1/open/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "in": "header", "name": "X-API-Key"}
    assert schemes["Bearer"]["scheme"] == "bearer"
    assert schemes["KeySecret"]["name"] == "X-API-Secret"
    keyed = [
        operation
        for operations in document["paths"].values()
        for operation in operations.values()
        if operation.get("security")
    ]
    assert keyed
    for operation in keyed:
        assert operation["security"] == [
            {"ApiKey": []},
            {"Bearer": []},
            {"KeyId": [], "KeySecret": []},
        ]
