from __future__ import annotations

import json
from datetime import UTC
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import Agent, AuditAction, AuditEvent
from apikeys.forms import KeyPermissionsForm
from apikeys.models import ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db


def run(*args: str) -> dict | list:
    out = StringIO()
    call_command("apikey", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_create_prints_a_working_key_once(client: Client, agent_a: Agent) -> None:
    created = run(
        "create",
        "--agent",
        agent_a.public_id,
        "--name",
        "CLI",
        "--permission",
        "contacts:read",
        "--permission",
        "documents_create",
        "--ip",
        "127.0.0.1, ::1",
    )

    assert created["permissions"] == {"contacts": ["read"], "documents": ["create"]}
    assert created["ipAllowlist"] == "127.0.0.1, ::1"
    response = client.get("/v1/open/keys/me", headers={"x-api-key": created["key"]})
    assert response.status_code == 200
    assert AuditEvent.objects.get(action=AuditAction.CREATE).actor == "manage.py apikey"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--permission", "contacts:fly"], "Unknown permission"),
        (["--ip", "300.1.1.1"], "not an IP address"),
        (["--per-minute", "0"], "rate_limit_per_minute"),
        (["--per-hour", "10001"], "rate_limit_per_hour"),
        (["--expires", "2001-01-01"], "today or a later date"),
        (["--expires", "soon"], "not a date"),
    ],
)
def test_create_refuses_bad_input(agent_a: Agent, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("create", "--agent", agent_a.public_id, "--name", "CLI", *args)
    assert not ApiKey.objects.exists()


def test_create_for_an_unknown_agent(db: None) -> None:
    with pytest.raises(CommandError, match="No agent"):
        run("create", "--agent", "0" * 24, "--name", "CLI")


def test_list_show_and_reveal(agent_a: Agent) -> None:
    key, full = make_key(agent_a, "contacts_read", name="Listed")
    listed = run("list", "--agent", agent_a.public_id)
    assert [k["keyId"] for k in listed] == [key.key_id]
    assert "key" not in listed[0]

    assert "key" not in run("show", key.key_id)
    assert run("show", key.key_id, "--reveal")["key"] == full
    assert AuditEvent.objects.filter(action=AuditAction.READ).count() == 1


@override_settings(APIKEY_SHOW_ONCE=True)
def test_reveal_in_show_once_mode_says_rotate(agent_a: Agent) -> None:
    key, _ = make_key(agent_a)
    with pytest.raises(CommandError, match="rotate"):
        run("show", key.key_id, "--reveal")


def test_rotate_and_revoke(client: Client, agent_a: Agent) -> None:
    key, old = make_key(agent_a)
    rotated = run("rotate", key.key_id, "--grace", "1h")
    assert rotated["key"] != old and rotated["oldSecretValidUntil"]
    assert client.get("/v1/open/keys/me", headers={"x-api-key": old}).status_code == 200

    run("revoke", key.key_id)
    assert client.get("/v1/open/keys/me", headers={"x-api-key": rotated["key"]}).status_code == 401
    with pytest.raises(CommandError, match="No API key"):
        run("revoke", key.key_id)


def test_verify(agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    assert run("verify", full)["valid"] is True
    with pytest.raises(CommandError, match="malformed"):
        run("verify", full[:-1])
    key.delete()
    with pytest.raises(CommandError, match="Invalid"):
        run("verify", full)


def test_key_encryption_rotation(agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    with override_settings(KEY_ENCRYPTION_KEYS=["new-kek", "tests-only-key-encryption-key"]):
        call_command("rotate_key_encryption", stdout=StringIO())
    with override_settings(KEY_ENCRYPTION_KEYS=["new-kek"]):
        key.refresh_from_db()
        assert key.reveal() == full
    with (
        override_settings(KEY_ENCRYPTION_KEYS=["unrelated"]),
        pytest.raises(CommandError, match="could not"),
    ):
        call_command("rotate_key_encryption", stdout=StringIO())


def test_prune_removes_old_events_and_long_expired_keys(agent_a: Agent) -> None:
    from datetime import timedelta

    from django.utils import timezone

    old_key, _ = make_key(agent_a, name="old")
    ApiKey.objects.filter(pk=old_key.pk).update(expires_at=timezone.now() - timedelta(days=31))
    make_key(agent_a, name="current")
    event = AuditEvent.objects.create(
        organization=agent_a.organization,
        actor="x",
        action="read",
        resource="r",
        description="d",
        status="success",
    )
    AuditEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(days=400))

    out = StringIO()
    call_command("prune", "--json", stdout=out)
    assert json.loads(out.getvalue())["expiredKeys"] == 1
    assert list(ApiKey.objects.values_list("name", flat=True)) == ["current"]
    assert not AuditEvent.objects.filter(pk=event.pk).exists()


def test_prune_deletes_contact_imports_previewed_but_never_confirmed(agent_a: Agent) -> None:
    import os
    import time

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from contacts.importing import staged_path

    old = default_storage.save(staged_path(agent_a, "a" * 32), ContentFile(b"name\nAda\n"))
    fresh = default_storage.save(staged_path(agent_a, "b" * 32), ContentFile(b"name\nBob\n"))
    two_days_ago = time.time() - 2 * 86400
    os.utime(default_storage.path(old), (two_days_ago, two_days_ago))

    out = StringIO()
    call_command("prune", "--dry-run", "--json", stdout=out)
    assert json.loads(out.getvalue())["stagedImports"] == 1
    assert default_storage.exists(old)

    call_command("prune", stdout=(out := StringIO()))
    assert "1 unconfirmed contact import(s)" in out.getvalue()
    assert not default_storage.exists(old) and default_storage.exists(fresh)


def test_prune_refuses_a_zero_import_window() -> None:
    with pytest.raises(CommandError, match="--import-hours"):
        call_command("prune", "--import-hours", "0", stdout=StringIO())


def test_create_with_an_expiry_date_works_to_the_end_of_that_day_in_utc(agent_a: Agent) -> None:
    created = run(
        "create", "--agent", agent_a.public_id, "--name", "CLI", "--expires", "2027-06-30"
    )
    assert created["expiresAt"] == "2027-06-30T23:59:59+00:00"


def test_create_accepts_today_as_the_expiry_date(agent_a: Agent) -> None:
    today = timezone.now().astimezone(UTC).date()
    created = run("create", "--agent", agent_a.public_id, "--name", "CLI", "--expires", str(today))
    assert created["expiresAt"] == f"{today}T23:59:59+00:00"


def test_the_ui_and_the_cli_give_the_same_expiry_for_the_same_date(agent_a: Agent) -> None:
    created = run(
        "create", "--agent", agent_a.public_id, "--name", "CLI", "--expires", "2027-06-30"
    )
    form = KeyPermissionsForm({"rate_limit_per_minute": 60, "rate_limit_per_hour": 1000,
                               "expires_on": "2027-06-30"})  # fmt: skip
    assert form.is_valid(), form.errors
    assert form.key_fields()["expires_at"].isoformat() == created["expiresAt"]


def test_create_refuses_a_per_minute_limit_above_the_per_hour_limit(agent_a: Agent) -> None:
    with pytest.raises(CommandError, match=r"per-minute limit \(500\) cannot be higher"):
        run("create", "--agent", agent_a.public_id, "--name", "CLI",
            "--per-minute", "500", "--per-hour", "100")  # fmt: skip
    assert not ApiKey.objects.exists()


def test_create_help_explains_the_expiry_rule(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        call_command("apikey", "create", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "end of this day (23:59:59 UTC); today is allowed" in text
