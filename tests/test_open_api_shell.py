from __future__ import annotations

from unittest import mock

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_health_reports_database_and_cache(client: Client) -> None:
    response = client.get("/v1/open/health")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "All dependencies are reachable.",
        "data": {"database": "ok", "cache": "ok"},
    }


def test_health_is_503_when_the_cache_is_down(client: Client) -> None:
    with mock.patch("a2v2.health.cache.set", side_effect=ConnectionError("refused")):
        response = client.get("/v1/open/health")
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["data"] == {"database": "ok", "cache": "unavailable"}
    assert "cache" in body["message"]


def test_health_is_503_when_the_database_is_down(client: Client) -> None:
    from django.db import OperationalError

    with mock.patch("a2v2.health.connection.cursor", side_effect=OperationalError("down")):
        response = client.get("/v1/open/health")
    assert response.status_code == 503
    assert response.json()["data"]["database"] == "unavailable"


def test_unknown_path_is_a_json_404(client: Client) -> None:
    response = client.get("/v1/open/nothing/here")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["success"] is False and body["errors"] == {}


def test_wrong_method_is_a_json_405(client: Client) -> None:
    response = client.post("/v1/open/health")
    assert response.status_code == 405
    assert response.json()["success"] is False
    assert "GET" in response["Allow"]


def test_unexpected_exception_is_a_json_500(client: Client) -> None:
    client.raise_request_exception = False
    with mock.patch("a2v2.api.check_dependencies", side_effect=RuntimeError("boom")):
        response = client.get("/v1/open/health")
    assert response.status_code == 500
    assert response.json() == {"success": False, "message": "Internal server error.", "errors": {}}


def test_openapi_document_and_local_docs(client: Client) -> None:
    schema = client.get("/v1/open/openapi.json").json()
    assert schema["info"]["title"] == "A2V2 Open API"
    assert "/v1/open/health" in schema["paths"]

    docs = client.get("/v1/open/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
