"""Every shape and scheme a credential can arrive in, and what each one answers: the exact
status, message and challenge a client (or someone probing) sees on /v1/open."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings

from accounts.models import Agent
from apikeys import keyformat
from apikeys.models import ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db
Issued = tuple[ApiKey, str]  # a key and its full string
ME = "/v1/open/keys/me"
CHALLENGE = 'Bearer realm="a2v2"'
MISSING = (
    "Missing API key. Send it in the x-api-key header "
    "(or the key id in x-api-key and the secret in x-api-secret)."
)
MALFORMED = "The API key is malformed."
CHECKSUM = "The API key is malformed (checksum mismatch)."
ID_OR_SECRET = "The API key id or secret is malformed."
USE_BEARER = "Use 'Authorization: Bearer <API key>'."
INVALID = "Invalid API key."
IN_URL = "API keys are not accepted in the URL; send the x-api-key header."


def refused(response: HttpResponse, status: int, message: str) -> None:
    assert response.status_code == status, response.content
    assert response.json() == {"success": False, "message": message, "errors": {}}
    if status == 401:
        assert response["WWW-Authenticate"] == CHALLENGE
    else:
        assert "WWW-Authenticate" not in response


def secret_of(full: str) -> str:
    return keyformat.parse_full_key(full).secret


def bad_checksum(full: str) -> str:
    return full[:-1] + ("0" if full[-1] != "0" else "1")


@pytest.fixture
def key(agent_a: Agent) -> Issued:
    return make_key(agent_a, "contacts_read")


# --- accepted forms -----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_in_any_case(client: Client, key: Issued, scheme: str) -> None:
    response = client.get(ME, headers={"authorization": f"{scheme} {key[1]}"})
    assert response.status_code == 200 and response.json()["data"]["keyId"] == key[0].key_id


def test_whitespace_around_a_key_is_forgiven_in_every_form(client: Client, key: Issued) -> None:
    api_key, full = key
    assert client.get(ME, headers={"authorization": f"Bearer  {full} "}).status_code == 200
    assert client.get(ME, headers={"x-api-key": f" {full} "}).status_code == 200
    two = {"x-api-key": f" {api_key.key_id} ", "x-api-secret": f" {secret_of(full)} "}
    assert client.get(ME, headers=two).status_code == 200


def test_authorization_is_read_before_x_api_key(client: Client, key: Issued) -> None:
    _, full = key
    both = {"authorization": f"Bearer {full}", "x-api-key": "garbage"}
    assert client.get(ME, headers=both).status_code == 200
    wrong_first = {"authorization": "Bearer garbage", "x-api-key": full}
    refused(client.get(ME, headers=wrong_first), 401, MALFORMED)


def test_the_two_header_form_is_read_before_a_whole_key_in_x_api_key(
    client: Client,
    key: Issued,
) -> None:
    _, full = key
    # A whole key in x-api-key with a secret beside it is not the two-header form's key id.
    refused(
        client.get(ME, headers={"x-api-key": full, "x-api-secret": secret_of(full)}),
        401,
        ID_OR_SECRET,
    )


# --- refused forms ------------------------------------------------------------------------


def test_no_credentials_at_all(client: Client) -> None:
    refused(client.get(ME), 401, MISSING)


def test_a_secret_without_a_key_id_is_missing_credentials(client: Client, key: Issued) -> None:
    refused(client.get(ME, headers={"x-api-secret": secret_of(key[1])}), 401, MISSING)


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Token {full}", "ApiKey {full}", "Bearer", "Bearer    ", "{full}"],
)
def test_any_other_authorization_scheme_is_refused(
    client: Client,
    key: Issued,
    authorization: str,
) -> None:
    value = authorization.format(full=key[1])
    refused(client.get(ME, headers={"authorization": value}), 401, USE_BEARER)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda full: full[:-1], MALFORMED),
        (lambda full: full + "0", MALFORMED),
        (lambda full: full.replace("a2v2_", "a2v1_"), MALFORMED),
        (lambda full: full.split("_")[1], MALFORMED),  # the key id alone
        (bad_checksum, CHECKSUM),
    ],
)
@pytest.mark.parametrize("where", ["bearer", "x-api-key"])
def test_a_malformed_whole_key_is_refused_with_its_reason(
    client: Client,
    key: Issued,
    mangle: Callable[[str], str],
    message: str,
    where: str,
) -> None:
    value = mangle(key[1])
    headers = {"authorization": f"Bearer {value}"} if where == "bearer" else {"x-api-key": value}
    refused(client.get(ME, headers=headers), 401, message)


@pytest.mark.parametrize(
    ("key_id", "secret"),
    [
        (lambda i: i, lambda s: s + "x"),
        (lambda i: i, lambda s: s[:-1]),
        (lambda i: i, lambda s: s[:-1] + "-"),
        (lambda i: i + "x", lambda s: s),
        (lambda i: i[:-1], lambda s: s),
        (lambda i: f"a2v1_{i}", lambda s: s),
    ],
)
def test_a_malformed_two_header_form_is_refused(
    client: Client,
    key: Issued,
    key_id: Callable[[str], str],
    secret: Callable[[str], str],
) -> None:
    api_key, full = key
    headers = {"x-api-key": key_id(api_key.key_id), "x-api-secret": secret(secret_of(full))}
    refused(client.get(ME, headers=headers), 401, ID_OR_SECRET)


def test_a_wrong_secret_an_unknown_id_and_a_borrowed_secret_answer_alike(
    client: Client, agent_a: Agent, key: Issued
) -> None:
    api_key, full = key
    _, other_full = make_key(agent_a)
    attempts = {
        "wrong secret": keyformat.compose(api_key.key_id, keyformat.new_secret()),
        "unknown id": keyformat.compose(keyformat.new_key_id(), secret_of(full)),
        "another key's secret": keyformat.compose(api_key.key_id, secret_of(other_full)),
    }
    for value in attempts.values():
        refused(client.get(ME, headers={"x-api-key": value}), 401, INVALID)
        refused(client.get(ME, headers={"authorization": f"Bearer {value}"}), 401, INVALID)
        parsed = keyformat.parse_full_key(value)
        two = {"x-api-key": parsed.key_id, "x-api-secret": parsed.secret}
        refused(client.get(ME, headers=two), 401, INVALID)
    # Both keys still work with their own secrets.
    assert client.get(ME, headers={"x-api-key": full}).status_code == 200
    assert client.get(ME, headers={"x-api-key": other_full}).status_code == 200


# --- a key in the URL ---------------------------------------------------------------------

REFUSED_NAMES = [
    "api_key",
    "apikey",
    "key",
    "x-api-key",
    "x_api_key",
    "api_secret",
    "x-api-secret",
    "secret",
    "token",
    "access_token",
]


def spellings(name: str) -> list[str]:
    return [name, name.upper(), name.title(), name[0].upper() + name[1:]]


@pytest.mark.parametrize("name", REFUSED_NAMES)
def test_every_credential_name_in_the_query_string_is_refused_in_any_case(
    client: Client, name: str
) -> None:
    for spelling in spellings(name):
        # Even with a valid-looking value or none, and even beside a good header.
        refused(client.get(ME, {spelling: "anything"}), 400, IN_URL)
        refused(client.get(f"{ME}?{spelling}"), 400, IN_URL)


def test_a_key_in_the_url_is_refused_even_with_a_good_header(client: Client, key: Issued) -> None:
    _, full = key
    response = client.get(f"{ME}?page=1&Token={full}", headers={"x-api-key": full})
    refused(response, 400, IN_URL)


def test_other_query_parameters_are_fine(client: Client, key: Issued) -> None:
    _, full = key
    for query in ({"page": "2"}, {"keys": "1"}, {"api": "x"}, {"secret_santa": "y"}):
        assert client.get(ME, query, headers={"x-api-key": full}).status_code == 200


@override_settings(APIKEY_FAILURES_PER_CLIENT=2)
def test_a_key_in_the_url_does_not_use_up_the_failure_budget(client: Client, key: Issued) -> None:
    _, full = key
    for _ in range(5):
        refused(client.get(ME, {"api_key": "x"}), 400, IN_URL)
    assert client.get(ME, headers={"x-api-key": full}).status_code == 200


def test_a_real_key_in_an_unrelated_parameter_is_refused_whatever_the_headers(
    client: Client, key: Issued
) -> None:
    api_key, full = key
    # The URL carried the key through every log on its way, whatever the headers say.
    refused(client.get(ME, {"q": full}, headers={"authorization": "Basic abc"}), 400, IN_URL)
    refused(client.get(ME, {"q": full}), 400, IN_URL)
    api_key.refresh_from_db()
    assert api_key.exposed_at is not None


def test_a_mistyped_key_in_an_unrelated_parameter_is_not_a_key(client: Client, key: Issued) -> None:
    api_key, full = key
    mistyped = full[:-1] + ("y" if full.endswith("x") else "x")  # the checksum fails
    response = client.get(ME, {"q": mistyped}, headers={"x-api-key": full})
    assert response.status_code == 200
    api_key.refresh_from_db()
    assert api_key.exposed_at is None
