"""Row actions on the API Permissions page: Copy API Key, Edit, Rotate, Delete."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import Agent, AuditAction, AuditEvent, AuditStatus, User
from apikeys.forms import end_of_day
from apikeys.models import ApiKey
from tests.conftest import client_for
from tests.factories import make_key

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
JSON = {"Accept": "application/json"}
FULL_KEY = re.compile(r"a2v2_[0-9A-Za-z]{16}_[0-9A-Za-z]{38}")
ME = "/v1/open/keys/me"


@pytest.fixture
def issued(agent_a: Agent) -> tuple[ApiKey, str]:
    return make_key(agent_a, "contacts_read", name="Zapier")


@pytest.fixture
def key(issued: tuple[ApiKey, str]) -> ApiKey:
    return issued[0]


@pytest.fixture
def owner_client(owner: User) -> Client:
    return client_for(owner)


def url(name: str, key: ApiKey) -> str:
    return reverse(name, args=[key.agent.public_id, key.key_id])


def api_status(full_key: str) -> int:
    return Client().get(ME, headers={"x-api-key": full_key}).status_code


def edit_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Zapier",
        "description": "",
        "ip_allowlist": "",
        "contacts_read": "on",
        "rate_limit_per_minute": "60",
        "rate_limit_per_hour": "1000",
        "expires_on": "",
    }
    return {**data, **overrides}


def triggers(response) -> dict:
    return {
        **json.loads(response.get("HX-Trigger", "{}")),
        **json.loads(response.get("HX-Trigger-After-Settle", "{}")),
    }


# --- Copy API Key ----------------------------------------------------------------------


def test_copy_api_key_returns_the_key_as_json_with_no_store(
    owner_client: Client, issued: tuple[ApiKey, str]
) -> None:
    key, full_key = issued

    response = owner_client.post(url("apikeys:api-key-reveal", key), headers=JSON)

    assert response.status_code == 200
    assert response.json() == {"key": full_key}
    assert "no-store" in response["Cache-Control"]
    for cookie in (*response.cookies.values(), *owner_client.cookies.values()):
        assert full_key not in cookie.value


def test_copy_api_key_without_javascript_shows_the_key_in_the_page(
    owner_client: Client, issued: tuple[ApiKey, str]
) -> None:
    key, full_key = issued

    response = owner_client.post(url("apikeys:api-key-reveal", key))

    html = response.content.decode()
    assert response.status_code == 200
    assert f'value="{full_key}"' in html
    assert "no-store" in response["Cache-Control"]
    assert ">Copy API Key</button>" in html


def test_copy_api_key_is_a_post(owner_client: Client, key: ApiKey) -> None:
    assert owner_client.get(url("apikeys:api-key-reveal", key)).status_code == 405


def test_copying_a_key_is_audited_as_a_read(owner_client: Client, owner: User, key: ApiKey) -> None:
    owner_client.post(url("apikeys:api-key-reveal", key), headers=JSON)

    event = AuditEvent.objects.exclude(action=AuditAction.LOGIN).get()
    assert event.action == AuditAction.READ
    assert event.description == 'Revealed API key "Zapier"'
    assert event.resource == f'API key "Zapier" ({key.key_id})'
    assert event.user == owner and event.agent == key.agent


@override_settings(APIKEY_SHOW_ONCE=True)
def test_in_show_once_mode_the_row_says_the_key_can_only_be_rotated(
    owner_client: Client, agent_a: Agent
) -> None:
    key, _ = make_key(agent_a, name="Zapier")

    page = owner_client.get(reverse("apikeys:api-permissions", args=[agent_a.public_id]))
    as_json = owner_client.post(url("apikeys:api-key-reveal", key), headers=JSON)
    plain = owner_client.post(url("apikeys:api-key-reveal", key), follow=True)

    assert "Shown once — can only be rotated" in page.content.decode()
    assert "Copy API Key for Zapier" not in page.content.decode()
    assert as_json.status_code == 409
    assert "can only be rotated" in as_json.json()["error"]
    assert "It can only be rotated." in plain.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.READ).exists()


@override_settings(APIKEY_SHOW_ONCE=True)
def test_show_once_hides_copy_even_for_keys_with_an_encrypted_copy(
    owner_client: Client, key: ApiKey
) -> None:
    assert key.encrypted_key  # issued before the switch
    response = owner_client.post(url("apikeys:api-key-reveal", key), headers=JSON)
    assert response.status_code == 409


# --- Edit ------------------------------------------------------------------------------


def test_edit_opens_one_modal_with_every_field_filled_in(
    owner_client: Client, agent_a: Agent
) -> None:
    key, _ = make_key(
        agent_a,
        "documents_delete",
        name="Zapier",
        description="Syncs leads",
        ip_allowlist="10.0.0.0/8",
        rate_limit_per_hour=500,
        expires_at=end_of_day(timezone.localdate() + timedelta(days=30)),
    )

    response = owner_client.get(url("apikeys:api-key-edit", key), headers=HTMX)

    html = response.content.decode()
    assert "<html" not in html
    assert "Edit API Key" in html
    assert 'name="name" value="Zapier"' in html
    assert "Syncs leads</textarea>" in html
    assert 'name="ip_allowlist" value="10.0.0.0/8"' in html
    assert 'name="documents_delete" id="id_documents_delete" checked' in html
    assert 'name="rate_limit_per_hour" value="500"' in html
    assert f'value="{timezone.localdate() + timedelta(days=30)}"' in html


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain"])
def test_edit_saves_and_says_api_key_updated_successfully(
    owner_client: Client, key: ApiKey, headers: dict[str, str]
) -> None:
    data = edit_data(name="Zapier (prod)", ip_allowlist="::1", documents_read="on")

    response = owner_client.post(url("apikeys:api-key-edit", key), data, headers=headers)

    key.refresh_from_db()
    assert key.name == "Zapier (prod)" and key.ip_allowlist == "::1"
    assert key.documents_read and key.contacts_read and not key.contacts_create
    if headers:
        assert response.status_code == 200
        assert response["HX-Retarget"] == "#keys" and response["HX-Reswap"] == "outerHTML"
        assert triggers(response)["showToast"] == {"message": "API key updated successfully."}
        assert "closeModal" in triggers(response)
        assert "Zapier (prod)" in response.content.decode()
    else:
        assert response.status_code == 302
        page = owner_client.get(response["Location"])
        assert "API key updated successfully." in page.content.decode()


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("name", "n" * 101, "at most 100 characters"),
        ("ip_allowlist", "999.1.1.1", "is not an IP address or CIDR range"),
        ("rate_limit_per_minute", "1001", "less than or equal to 1000"),
        ("rate_limit_per_hour", "0", "greater than or equal to 1"),
        ("expires_on", "2001-01-01", "Choose today or a later date"),
    ],
)
def test_edit_uses_the_same_validation(
    owner_client: Client, key: ApiKey, field: str, value: str, error: str
) -> None:
    response = owner_client.post(
        url("apikeys:api-key-edit", key), edit_data(**{field: value}), headers=HTMX
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert error in html.replace("&#x27;", "'")
    assert value in html
    key.refresh_from_db()
    assert key.name == "Zapier" and key.rate_limit_per_minute == 60


def test_edit_may_keep_an_expiry_that_has_already_passed(
    owner_client: Client, agent_a: Agent
) -> None:
    expired_at = timezone.now() - timedelta(days=3)
    key, _ = make_key(agent_a, "contacts_read", name="Old")
    ApiKey.objects.filter(pk=key.pk).update(expires_at=expired_at)
    day = timezone.localdate(expired_at).isoformat()

    response = owner_client.post(
        url("apikeys:api-key-edit", key),
        edit_data(name="Old but renamed", expires_on=day),
        headers=HTMX,
    )

    assert response.status_code == 200
    key.refresh_from_db()
    assert key.name == "Old but renamed" and key.expires_at == expired_at


def test_an_edit_takes_effect_on_the_next_api_request(
    owner_client: Client, issued: tuple[ApiKey, str]
) -> None:
    key, full_key = issued
    assert api_status(full_key) == 200

    owner_client.post(url("apikeys:api-key-edit", key), edit_data(ip_allowlist="203.0.113.7"))

    assert api_status(full_key) == 403


def test_editing_is_audited_with_what_changed(owner_client: Client, key: ApiKey) -> None:
    owner_client.post(
        url("apikeys:api-key-edit", key),
        edit_data(name="Zapier 2", contacts_delete="on"),
        headers=HTMX,
    )

    event = AuditEvent.objects.exclude(action=AuditAction.LOGIN).get()
    assert event.action == AuditAction.UPDATE
    assert event.description == 'Updated API key "Zapier 2" (Name, Contact Access: Delete)'
    assert event.resource == f'API key "Zapier 2" ({key.key_id})'


# --- Rotate ----------------------------------------------------------------------------


def test_rotate_offers_the_grace_periods(owner_client: Client, key: ApiKey) -> None:
    html = owner_client.get(url("apikeys:api-key-rotate", key), headers=HTMX).content.decode()

    assert "Rotate API Key" in html
    for value in ("none", "1h", "24h", "7d"):
        assert f'value="{value}"' in html
    for label in ("1 hour", "24 hours", "7 days"):
        assert label in html


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain"])
def test_rotate_without_grace_shows_the_new_key_and_the_old_stops_working(
    owner_client: Client, issued: tuple[ApiKey, str], headers: dict[str, str]
) -> None:
    key, old_key = issued

    response = owner_client.post(
        url("apikeys:api-key-rotate", key), {"grace": "none"}, headers=headers
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "API key rotated successfully." in html
    assert "The old key no longer works." in html
    (new_key,) = {k for k in FULL_KEY.findall(html)}
    assert new_key != old_key
    assert api_status(new_key) == 200
    assert api_status(old_key) == 401


def test_rotate_with_grace_keeps_the_old_key_working_for_a_while(
    owner_client: Client, issued: tuple[ApiKey, str]
) -> None:
    key, old_key = issued

    response = owner_client.post(url("apikeys:api-key-rotate", key), {"grace": "24h"}, headers=HTMX)

    new_key = FULL_KEY.search(response.content.decode()).group()
    assert "The old key keeps working until" in response.content.decode()
    assert api_status(new_key) == 200 and api_status(old_key) == 200
    event = AuditEvent.objects.exclude(action=AuditAction.LOGIN).get()
    assert event.action == AuditAction.UPDATE
    assert event.description == 'Rotated API key "Zapier" (grace period: 24 hours)'


def test_an_expired_key_cannot_be_rotated_and_says_so_inline(
    owner_client: Client, key: ApiKey
) -> None:
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    response = owner_client.post(url("apikeys:api-key-rotate", key), {"grace": "1h"}, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 422
    assert "An expired key cannot be rotated; create a new key instead." in html
    assert not FULL_KEY.search(html)
    event = AuditEvent.objects.exclude(action=AuditAction.LOGIN).get()
    assert event.status == AuditStatus.FAILURE


def test_rotate_needs_a_known_grace_period(owner_client: Client, key: ApiKey) -> None:
    response = owner_client.post(
        url("apikeys:api-key-rotate", key), {"grace": "forever"}, headers=HTMX
    )
    assert response.status_code == 422
    assert "Select a valid choice." in response.content.decode()


# --- Delete ----------------------------------------------------------------------------


def test_delete_asks_for_confirmation_with_the_seed_warning(
    owner_client: Client, key: ApiKey
) -> None:
    html = owner_client.get(url("apikeys:api-key-delete", key), headers=HTMX).content.decode()

    assert "will be permanently deleted" in html
    assert "Any applications using this key will lose access." in html
    assert ">Delete API Key</button>" in html
    assert ApiKey.objects.filter(pk=key.pk).exists()


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain"])
def test_delete_revokes_at_once_and_updates_the_list(
    owner_client: Client, issued: tuple[ApiKey, str], headers: dict[str, str]
) -> None:
    key, full_key = issued
    assert api_status(full_key) == 200

    response = owner_client.post(url("apikeys:api-key-delete", key), headers=headers)

    assert not ApiKey.objects.filter(pk=key.pk).exists()
    assert api_status(full_key) == 401
    if headers:
        assert response["HX-Retarget"] == "#keys"
        assert "No API keys yet." in response.content.decode()
        assert triggers(response)["showToast"] == {"message": "API key deleted."}
    else:
        assert response.status_code == 302
        assert "API key deleted." in owner_client.get(response["Location"]).content.decode()


def test_deleting_is_audited(owner_client: Client, owner: User, key: ApiKey) -> None:
    key_id = key.key_id
    owner_client.post(url("apikeys:api-key-delete", key), headers=HTMX)

    event = AuditEvent.objects.exclude(action=AuditAction.LOGIN).get()
    assert event.action == AuditAction.DELETE
    assert event.description == 'Deleted API key "Zapier"'
    assert event.resource == f'API key "Zapier" ({key_id})'
    assert event.user == owner


def test_admins_manage_keys_too(admin: User, issued: tuple[ApiKey, str]) -> None:
    key, full_key = issued
    client = client_for(admin)

    assert client.post(url("apikeys:api-key-reveal", key), headers=JSON).json() == {"key": full_key}
    assert (
        client.post(url("apikeys:api-key-edit", key), edit_data(name="By admin")).status_code == 302
    )
    assert client.post(url("apikeys:api-key-delete", key)).status_code == 302
    assert AuditEvent.objects.filter(user=admin).exclude(action=AuditAction.LOGIN).count() == 3
