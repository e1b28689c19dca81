"""API fuzzing: schemathesis generates requests for every operation of
/v1/open/openapi.json and sends them to the WSGI app in-process, with a key that has every
permission and with a restricted key (contacts read only).

Asserted for every response: no 5xx; the status is one the operation documents; the body
matches the documented schema; and it is the envelope (`success`, `message`, plus `data`
on success or `errors` on failure). Bounded: FUZZ_EXAMPLES examples per operation and key
(default 25), no per-example deadline; the whole module takes well under 90 s.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import ContactFactory, all_permissions, make_key

# Each request commits on its own, as in production: one refused statement must not
# poison the rest of the run (PostgreSQL aborts a whole transaction on an error).
pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
LIMITS = {"rate_limit_per_minute": 1000, "rate_limit_per_hour": 10000}


def load_schema():  # type: ignore[no-untyped-def]
    from a2v2.wsgi import application

    return schemathesis.openapi.from_wsgi("/v1/open/openapi.json", application)


def _fuzz_key(agent, kind: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    permissions = all_permissions() if kind == "every-permission" else ["contacts_read"]
    _, full = make_key(agent, *permissions, name=f"fuzz {kind}", **LIMITS)
    contact = ContactFactory(agent=agent, external_reference_id="fuzz-ref-1")
    return {"key": full, "agent": agent, "contact": contact, "kind": kind}


@pytest.fixture
def full_key(agent_a) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return _fuzz_key(agent_a, "every-permission")


@pytest.fixture
def restricted_key(agent_a) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return _fuzz_key(agent_a, "contacts-read-only")


def assert_envelope(response: Any) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/json"), (response.status_code, content_type)
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("success"), bool), body
    assert isinstance(body.get("message"), str) and body["message"], body
    if response.status_code >= 400:
        assert body["success"] is False, body
        assert isinstance(body.get("errors"), dict), body
    elif response.status_code != 304:
        assert "data" in body, body


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
    print_blob=True,
)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):  # type: ignore[no-untyped-def]
    # Errors are asserted on the responses; thousands of logged tracebacks only slow it down.
    import logging

    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def fuzz_every_operation(fuzz_key: dict[str, Any]) -> None:
    """Each operation in turn, positive and negative (schema-violating) inputs; the first
    failing example of each operation is reported, all operations are tried."""
    failures: list[str] = []
    operations = [result.ok() for result in load_schema().get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case) -> None:  # type: ignore[no-untyped-def]
                exercise(case, fuzz_key)

            try:
                run()
            except Unsatisfiable:
                continue  # nothing to violate: an operation without parameters or body
            except (Exception, BaseExceptionGroup) as error:
                failures.append(f"{operation.label} [{mode.value}]: {error}"[:3000])
    assert not failures, "\n\n".join(failures)


def test_fuzz_with_every_permission(full_key) -> None:  # type: ignore[no-untyped-def]
    fuzz_every_operation(full_key)


def test_fuzz_with_a_restricted_key(restricted_key) -> None:  # type: ignore[no-untyped-def]
    fuzz_every_operation(restricted_key)


def exercise(case, fuzz_key) -> None:  # type: ignore[no-untyped-def]
    if "agent_id" in (case.path_parameters or {}):
        case.path_parameters["agent_id"] = fuzz_key["agent"].public_id
    for name in ("contact_id", "external_reference_id"):
        # Sometimes aim at a real contact, so the handlers past the lookup are fuzzed too.
        if name in (case.path_parameters or {}) and hash(repr(case.body)) % 2:
            contact = fuzz_key["contact"]
            case.path_parameters[name] = (
                contact.public_id if name == "contact_id" else contact.external_reference_id
            ) or case.path_parameters[name]
    case.headers = {**(case.headers or {}), "X-API-Key": fuzz_key["key"]}
    response = case.call()
    assert_envelope(response)
    case.validate_response(
        response,
        checks=[status_code_conformance, content_type_conformance, response_schema_conformance],
    )
    if fuzz_key["kind"] == "contacts-read-only":
        needs_more = case.method.upper() != "GET" or "document-extraction" in case.path
        if needs_more and response.status_code not in (400, 401, 404, 405, 413, 415, 422, 429):
            assert response.status_code == 403, (case.method, case.path, response.status_code)


# --- oversized and malformed bodies on every operation that takes one ------------------------

SMALL_LIMIT = 64 * 1024  # DATA_UPLOAD_MAX_MEMORY_SIZE and upload caps, lowered for speed


def hostile_bodies(media_types: list[str]) -> list[tuple[str, str, bytes, int]]:
    """(label, Content-Type, raw body, expected status) for an operation's body."""
    if "multipart/form-data" in media_types:
        fields = "".join(
            f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n' for i in range(1100)
        )
        file_part = '--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        oversized = (file_part + "a" * (SMALL_LIMIT + 80 * 1024) + "\r\n--b--\r\n").encode()
        return [
            ("oversized upload", "multipart/form-data; boundary=b", oversized, 413),
            ("multipart without a boundary", "multipart/form-data", b"x", 400),
            ("1,100 form fields", "multipart/form-data; boundary=b",
             (fields + "--b--\r\n").encode(), 400),
            ("JSON instead of multipart", "application/json", b'{"file": "x"}', 415),
        ]  # fmt: skip
    oversized = b'{"name": "' + b"a" * (SMALL_LIMIT + 10) + b'"}'
    return [
        ("JSON over DATA_UPLOAD_MAX_MEMORY_SIZE", "application/json", oversized, 413),
        ("invalid JSON", "application/json", b'{"name": ', 400),
        ("UTF-16 JSON", "application/json", '{"name": "a"}'.encode("utf-16"), 400),
        ("a UTF-16 charset", "application/json; charset=utf-16", b'{"name": "a"}', 415),
        ("text/plain", "text/plain", b'{"name": "a"}', 415),
        ("form-encoded", "application/x-www-form-urlencoded", b"name=a", 415),
        ("a NUL character", "application/json",
         b'{"name": "a\\u0000b", "fields": {"x": "\\u0000"}}', 422),
    ]  # fmt: skip


@pytest.mark.parametrize("kind", ["every-permission"])
def test_oversized_and_malformed_bodies_get_a_documented_4xx_envelope(agent_a, kind: str) -> None:  # type: ignore[no-untyped-def]
    from django.test import override_settings

    fuzz_key = _fuzz_key(agent_a, kind)
    limits = {**settings_module().EXTRACTION_LIMITS, "max_bytes": SMALL_LIMIT}
    failures: list[str] = []
    sent = 0
    with override_settings(
        DATA_UPLOAD_MAX_MEMORY_SIZE=SMALL_LIMIT,
        CONTACT_FILE_MAX_BYTES=SMALL_LIMIT,
        EXTRACTION_LIMITS=limits,
    ):
        for result in load_schema().get_all_operations():
            operation = result.ok()
            media_types = list(operation.get_request_payload_content_types())
            if not media_types:
                continue
            values = {
                "agent_id": fuzz_key["agent"].public_id,
                "contact_id": fuzz_key["contact"].public_id,
                "external_reference_id": fuzz_key["contact"].external_reference_id,
            }
            path_parameters = {
                parameter.name: values.get(parameter.name, "a" * 24)
                for parameter in operation.path_parameters
            }
            for label, content_type, raw, expected in hostile_bodies(media_types):
                case = operation.Case(
                    path_parameters=path_parameters,
                    headers={"X-API-Key": fuzz_key["key"], "Content-Type": content_type},
                    body={},
                    media_type=media_types[0],
                )
                response = case.call(data=raw)
                sent += 1
                where = f"{operation.label} [{label}]"
                try:
                    assert_envelope(response)
                    assert response.status_code == expected, response.status_code
                    case.validate_response(response, checks=[status_code_conformance])
                except (AssertionError, Exception) as error:
                    failures.append(f"{where}: {error}"[:600])
    assert sent >= 40, sent
    assert not failures, "\n".join(failures)


def settings_module():  # type: ignore[no-untyped-def]
    from django.conf import settings

    return settings
