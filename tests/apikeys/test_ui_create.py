"""Add API Key: step 1 → Next → step 2 → Give Access, with htmx and without."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import Agent, AuditAction, AuditEvent, User
from apikeys.models import ApiKey
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
FULL_KEY = re.compile(r"a2v2_[0-9A-Za-z]{16}_[0-9A-Za-z]{38}")
STEP_1 = "Step 1 of 2 — Enter basic information"
STEP_2 = "Step 2 of 2 — Configure permissions"


def new_url(agent: Agent) -> str:
    return reverse("apikeys:api-key-new", args=[agent.public_id])


def step_2_data(**overrides: str) -> dict[str, Any]:
    data = {
        "name": "Zapier",
        "description": "Syncs leads",
        "ip_allowlist": "192.168.1.1, 10.0.0.1",
        "contacts_read": "on",
        "rate_limit_per_minute": "60",
        "rate_limit_per_hour": "1000",
        "expires_on": "",
        "action": "create",
    }
    return {**data, **overrides}


@pytest.fixture
def owner_client(owner: User) -> Client:
    return client_for(owner)


def test_add_api_key_opens_step_1_as_a_fragment_for_htmx(
    owner_client: Client, agent_a: Agent
) -> None:
    response = owner_client.get(new_url(agent_a), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert STEP_1 in html
    for label in ("Name", "Description", "IP Address"):
        assert f">{label}" in html
    assert 'name="action" value="next">Next</button>' in html
    assert "HX-Request" in response["Vary"]


def test_without_htmx_step_1_is_the_page_with_its_dialog_open(
    owner_client: Client, agent_a: Agent
) -> None:
    response = owner_client.get(new_url(agent_a))

    html = response.content.decode()
    assert "<html" in html and "<h1>API Permission</h1>" in html
    assert '<dialog id="modal" class="modal" aria-labelledby="modal-title" open>' in html
    assert STEP_1 in html


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("name", "x" * 101, "at most 100 characters"),
        ("name", "", "This field is required."),
        ("description", "d" * 501, "at most 500 characters"),
        ("ip_allowlist", "999.1.1.1", "is not an IP address or CIDR range"),
        ("ip_allowlist", "abc", "is not an IP address or CIDR range"),
        ("ip_allowlist", "10.0.0.1, 300.0.0.0/8", "is not an IP address or CIDR range"),
    ],
)
@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain"])
def test_step_1_errors_show_inline_with_422_and_keep_what_was_typed(
    owner_client: Client,
    agent_a: Agent,
    field: str,
    value: str,
    error: str,
    headers: dict[str, str],
) -> None:
    data = {"name": "Zapier", "description": "Syncs leads", "ip_allowlist": "", "action": "next"}
    data[field] = value

    response = owner_client.post(new_url(agent_a), data, headers=headers)

    html = response.content.decode()
    assert response.status_code == 422
    assert STEP_1 in html and STEP_2 not in html
    assert error in html.replace("&#x27;", "'")
    assert 'aria-invalid="true"' in html
    assert "Syncs leads" in html or field == "description"
    if value:
        assert value in html
    assert not ApiKey.objects.exists()


def test_next_with_valid_basics_shows_step_2_with_defaults_and_hidden_step_1_values(
    owner_client: Client, agent_a: Agent
) -> None:
    response = owner_client.post(
        new_url(agent_a),
        {"name": "Zapier", "description": "Syncs\nleads", "ip_allowlist": "10.0.0.1,::1"},
        headers=HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert STEP_2 in html
    assert "<legend>Contact Access</legend>" in html
    assert "<legend>Document Extraction Access</legend>" in html
    for action in ("Create", "Read", "Update", "Delete"):
        assert html.count(f"<span>{action}</span>") == 2
    assert 'name="rate_limit_per_minute" value="60"' in html
    assert 'name="rate_limit_per_hour" value="1000"' in html
    assert '<input type="hidden" name="name" value="Zapier"' in html
    assert '<input type="hidden" name="ip_allowlist" value="10.0.0.1,::1"' in html
    assert ">Give Access</button>" in html and ">Back</button>" in html
    assert not ApiKey.objects.exists()


def test_back_returns_to_step_1_with_its_values_and_keeps_step_2_choices(
    owner_client: Client, agent_a: Agent
) -> None:
    back = owner_client.post(
        new_url(agent_a), step_2_data(action="back", documents_update="on"), headers=HTMX
    )

    html = back.content.decode()
    assert STEP_1 in html
    assert 'name="name" value="Zapier"' in html
    assert 'name="ip_allowlist" value="192.168.1.1, 10.0.0.1"' in html
    assert '<input type="hidden" name="documents_update" value="True"' in html

    carried = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    again = owner_client.post(
        new_url(agent_a), {**carried, "name": "Zapier 2", "action": "next"}, headers=HTMX
    )
    html = again.content.decode()
    assert STEP_2 in html
    assert 'name="documents_update" id="id_documents_update" checked' in html
    assert 'name="contacts_read" id="id_contacts_read" checked' in html
    assert 'name="contacts_create" id="id_contacts_create" checked' not in html


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("rate_limit_per_minute", "0", "greater than or equal to 1"),
        ("rate_limit_per_minute", "1001", "less than or equal to 1000"),
        ("rate_limit_per_hour", "0", "greater than or equal to 1"),
        ("rate_limit_per_hour", "10001", "less than or equal to 10000"),
        ("rate_limit_per_minute", "", "This field is required."),
        ("expires_on", "2020-01-01", "Choose today or a later date"),
        ("expires_on", "today", "Enter a valid date."),
    ],
)
@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain"])
def test_step_2_errors_show_inline_with_422_and_keep_the_choices(
    owner_client: Client,
    agent_a: Agent,
    field: str,
    value: str,
    error: str,
    headers: dict[str, str],
) -> None:
    response = owner_client.post(new_url(agent_a), step_2_data(**{field: value}), headers=headers)

    html = response.content.decode()
    assert response.status_code == 422
    assert STEP_2 in html
    assert error in html
    assert 'name="contacts_read" id="id_contacts_read" checked' in html
    assert f'name="{field}" value="{value}"' in html or not value
    assert not ApiKey.objects.exists()


# The clock jumps hours ahead; the sign-in's sudo confirmation must still hold.
@override_settings(SUDO_MODE_MINUTES=48 * 60)
def test_today_is_a_valid_expiry_and_the_key_works_to_the_end_of_the_day_in_utc(
    owner_client: Client, agent_a: Agent
) -> None:
    today = timezone.now().astimezone(UTC).date()
    with freeze_time(datetime.combine(today, time(23, 30), tzinfo=UTC)):
        response = owner_client.post(new_url(agent_a), step_2_data(expires_on=str(today)))
    assert response.status_code == 200
    key = ApiKey.objects.get()
    assert key.expires_at == datetime.combine(today, time(23, 59, 59), tzinfo=UTC)


# The clock jumps hours ahead; the sign-in's sudo confirmation must still hold.
@override_settings(SUDO_MODE_MINUTES=48 * 60)
def test_yesterday_in_utc_is_refused_as_an_expiry(owner_client: Client, agent_a: Agent) -> None:
    today = timezone.now().astimezone(UTC).date()
    with freeze_time(datetime.combine(today + timedelta(days=1), time(0, 30), tzinfo=UTC)):
        response = owner_client.post(new_url(agent_a), step_2_data(expires_on=str(today)))
    assert response.status_code == 422
    assert "Choose today or a later date" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_expiry_field_says_end_of_day_in_utc(owner_client: Client, agent_a: Agent) -> None:
    response = owner_client.post(new_url(agent_a), step_2_data(action="next"), headers=HTMX)
    assert "end of this day (23:59:59 UTC)" in response.content.decode()


def test_a_per_minute_limit_above_the_per_hour_limit_is_refused(
    owner_client: Client, agent_a: Agent
) -> None:
    response = owner_client.post(
        new_url(agent_a),
        step_2_data(rate_limit_per_minute="500", rate_limit_per_hour="100"),
        headers=HTMX,
    )
    assert response.status_code == 422
    assert (
        "The per-minute limit (500) cannot be higher than the per-hour limit (100)."
        in response.content.decode()
    )
    assert not ApiKey.objects.exists()


def test_tampered_step_1_values_are_checked_again_on_give_access(
    owner_client: Client, agent_a: Agent
) -> None:
    response = owner_client.post(new_url(agent_a), step_2_data(ip_allowlist="abc"), headers=HTMX)

    assert response.status_code == 422
    assert STEP_1 in response.content.decode()
    assert not ApiKey.objects.exists()


def test_give_access_creates_the_key_and_shows_it_once_in_the_body(
    owner_client: Client, owner: User, agent_a: Agent
) -> None:
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = owner_client.post(
        new_url(agent_a),
        step_2_data(documents_create="on", rate_limit_per_minute="30", expires_on=str(tomorrow)),
        headers=HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 200
    # Said once, in the dialog's banner: no toast on top of it.
    assert html.count("API key created successfully.") == 1
    assert ">Copy API Key</button>" in html
    assert "showToast" not in response.get("HX-Trigger", "")
    key = ApiKey.objects.get()
    (full_key,) = set(FULL_KEY.findall(html))
    assert full_key.startswith(f"a2v2_{key.key_id}_")
    assert key.name == "Zapier" and key.description == "Syncs leads"
    assert key.ip_allowlist == "192.168.1.1, 10.0.0.1"
    assert [str(p) for p in key.permissions] == [
        "Contact Access: Read",
        "Document Extraction Access: Create",
    ]
    assert key.rate_limit_per_minute == 30 and key.rate_limit_per_hour == 1000
    assert timezone.localdate(key.expires_at) == tomorrow
    assert key.created_by == owner
    # The table behind the dialog is refreshed out of band.
    assert '<div id="keys" class="card keys" hx-swap-oob="true">' in html


def test_the_new_key_works_against_the_api(owner_client: Client, agent_a: Agent) -> None:
    response = owner_client.post(new_url(agent_a), step_2_data(ip_allowlist=""), headers=HTMX)
    full_key = FULL_KEY.search(response.content.decode()).group()

    me = Client().get("/v1/open/keys/me", headers={"x-api-key": full_key})

    assert me.status_code == 200
    assert me.json()["data"]["permissions"] == {"contacts": ["read"], "documents": []}


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain"])
def test_the_key_is_never_cached_nor_put_in_a_cookie_message_or_log(
    owner_client: Client,
    agent_a: Agent,
    headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    response = owner_client.post(new_url(agent_a), step_2_data(), headers=headers)

    assert response.status_code == 200  # shown in this body, not redirected to
    full_key = FULL_KEY.search(response.content.decode()).group()
    assert "no-store" in response["Cache-Control"]
    assert "Location" not in response
    for cookie in (*response.cookies.values(), *owner_client.cookies.values()):
        assert full_key not in cookie.value
    assert full_key not in caplog.text
    later = owner_client.get(reverse("apikeys:api-permissions", args=[agent_a.public_id]))
    assert full_key not in later.content.decode()
    assert "API key created successfully." not in later.content.decode()  # already shown


def test_without_htmx_give_access_renders_the_key_page_with_the_message_once(
    owner_client: Client, agent_a: Agent
) -> None:
    response = owner_client.post(new_url(agent_a), step_2_data())

    html = response.content.decode()
    assert '<dialog id="modal" class="modal" aria-labelledby="modal-title" open>' in html
    assert html.count("API key created successfully.") == 1
    assert "toast-success" not in html
    assert FULL_KEY.search(html)


def test_creating_a_key_is_audited(owner_client: Client, owner: User, agent_a: Agent) -> None:
    owner_client.post(new_url(agent_a), step_2_data(), headers=HTMX)

    key = ApiKey.objects.get()
    event = AuditEvent.objects.get(action=AuditAction.CREATE)
    assert event.user == owner
    assert event.organization == agent_a.organization and event.agent == agent_a
    assert event.resource == f'API key "Zapier" ({key.key_id})'
    assert event.description == 'Created API key "Zapier"'
    assert event.status == "success"


@override_settings(APIKEY_SHOW_ONCE=True)
def test_show_once_mode_says_the_key_will_not_be_shown_again(
    owner_client: Client, agent_a: Agent
) -> None:
    response = owner_client.post(new_url(agent_a), step_2_data(), headers=HTMX)

    html = response.content.decode()
    assert FULL_KEY.search(html)
    assert "It will not be shown again." in html
    assert ApiKey.objects.get().encrypted_key == ""


def test_the_ip_error_names_every_bad_entry(owner_client: Client, agent_a: Agent) -> None:
    response = owner_client.post(
        new_url(agent_a),
        step_2_data(ip_allowlist="10.0.0.1, 999.1.1.1, abc, ::1, 1.2.3.4/99", action="next"),
        headers=HTMX,
    )
    assert response.status_code == 422
    html = response.content.decode().replace("&#x27;", "'")
    assert "'999.1.1.1', 'abc' and '1.2.3.4/99' are not IP addresses or CIDR ranges" in html
