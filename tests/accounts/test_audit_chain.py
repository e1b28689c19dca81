"""The audit trail is a hash chain per organization: `manage.py audit verify` names the
first edited, deleted or reordered event; pruning is told apart from deleting; the Audit
Logs page and `manage.py audit export` write the filtered view as CSV or JSON Lines."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.models import Agent, AuditAction, AuditEvent, Organization, User
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def write(organization: Organization | None, text: str, action: str = "create") -> AuditEvent:
    return AuditEvent.record(
        action=AuditAction(action),
        resource=f"Thing {text}",
        description=text,
        organization=organization,
        actor="tester",
    )


def verify(*args: str) -> str:
    out = io.StringIO()
    call_command("audit", "verify", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def trail(org_a: Organization) -> list[AuditEvent]:
    return [write(org_a, f"event {n}") for n in range(5)]


def test_each_event_links_to_the_one_before_it_in_its_organization(
    org_a: Organization, org_b: Organization
) -> None:
    a1 = write(org_a, "a1")
    b1 = write(org_b, "b1")
    a2 = write(org_a, "a2")

    assert a1.previous_hash == "" and b1.previous_hash == ""
    assert a2.previous_hash == a1.hash
    a2.refresh_from_db()
    assert audit.hash_of(a2) == a2.hash  # what the database gives back hashes the same


def test_an_intact_trail_verifies(trail: list[AuditEvent], org_a: Organization) -> None:
    output = verify("--org", str(org_a.pk))

    assert f"OK   organization {org_a.pk}: 5 event(s), head {trail[-1].hash}" in output


def test_verify_fails_on_an_edited_event_and_names_it(
    trail: list[AuditEvent], org_a: Organization
) -> None:
    AuditEvent.objects.filter(pk=trail[2].pk).update(description="Nothing happened here")

    with pytest.raises(CommandError) as error:
        verify()

    assert f"event #{trail[2].pk}: its contents do not match its hash: it was edited" in str(
        error.value
    )


def test_verify_fails_on_a_deleted_event_naming_the_one_after_it(
    trail: list[AuditEvent],
) -> None:
    AuditEvent.objects.filter(pk=trail[1].pk).delete()

    with pytest.raises(CommandError, match=f"event #{trail[2].pk}: .*deleted or reordered"):
        verify()


def test_verify_fails_on_reordered_events(trail: list[AuditEvent]) -> None:
    """Swapping two rows' contents (hashes and all) keeps each row self-consistent."""
    first, second = trail[1], trail[2]
    fields = ["description", "resource", "created_at", "previous_hash", "hash"]
    values = {name: getattr(second, name) for name in fields}
    AuditEvent.objects.filter(pk=second.pk).update(**{n: getattr(first, n) for n in fields})
    AuditEvent.objects.filter(pk=first.pk).update(**values)

    with pytest.raises(CommandError, match=f"event #{first.pk}: .*deleted or reordered"):
        verify()


def test_verify_fails_when_the_oldest_events_are_deleted_quietly(
    trail: list[AuditEvent],
) -> None:
    AuditEvent.objects.filter(pk__in=[trail[0].pk, trail[1].pk]).delete()

    with pytest.raises(CommandError, match=f"event #{trail[2].pk}: .*no prune record"):
        verify()


def test_pruning_old_events_keeps_the_trail_verifiable(
    trail: list[AuditEvent], org_a: Organization
) -> None:
    AuditEvent.objects.filter(pk__in=[trail[0].pk, trail[1].pk]).update(
        created_at=timezone.now() - timedelta(days=400)
    )
    # Backdating is an edit: rehash those two as if written then (a real trail ages).
    previous = ""
    for event in AuditEvent.objects.trail(org_a.pk):
        event.previous_hash = previous
        event.hash = audit.hash_of(event)
        event.save(update_fields=["previous_hash", "hash"])
        previous = event.hash

    call_command("prune", stdout=io.StringIO())

    assert AuditEvent.objects.filter(organization=org_a).count() == 4  # 3 kept + the record
    assert "OK   organization" in verify("--org", str(org_a.pk))


def test_verify_json_reports_every_trail(trail: list[AuditEvent], org_b: Organization) -> None:
    write(org_b, "b")
    reports = json.loads(verify("--json"))

    assert [r["ok"] for r in reports] == [True, True]
    assert reports[0]["head"] == trail[-1].hash


def test_verify_an_unknown_organization_exits_non_zero(db: None) -> None:
    with pytest.raises(CommandError, match="No organization with id 999999"):
        verify("--org", "999999")


def test_the_migration_chain_matches_the_live_chain(trail: list[AuditEvent]) -> None:
    """accounts/migrations/0003 hashes with the same function: recomputing gives the same."""
    previous = ""
    for event in AuditEvent.objects.trail(trail[0].organization_id):
        values = {name: getattr(event, name) for name in audit.HASHED_FIELDS}
        assert audit.event_hash(values, previous) == event.hash
        previous = event.hash


# --- exports ---------------------------------------------------------------------------


def export_url(agent: Agent, query: str) -> str:
    return reverse("accounts:audit-logs-export", args=[agent.public_id]) + query


def body(response: object) -> str:
    return b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]


@pytest.fixture
def mixed(owner: User, member: User, agent_a: Agent, org_a: Organization) -> None:
    for action, text, user in [
        (AuditAction.CREATE, "=HYPERLINK(1)", owner),
        (AuditAction.DELETE, "gone", owner),
        (AuditAction.CREATE, "mine", member),
    ]:
        AuditEvent.record(
            action=action, resource="Key", description=text, organization=org_a, user=user
        )


def test_csv_export_is_the_filtered_view_and_defuses_formulas(
    owner: User, agent_a: Agent, mixed: None
) -> None:
    response = client_for(owner).get(export_url(agent_a, "?format=csv&action=create"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [r["description"] for r in rows] == ["'=HYPERLINK(1)", "mine"]
    assert rows[0]["hash"] and rows[1]["previous_hash"]


def test_jsonl_export_gives_a_user_only_their_own_events(
    member: User, agent_a: Agent, mixed: None
) -> None:
    response = client_for(member).get(export_url(agent_a, "?format=jsonl&action=create"))

    lines = [json.loads(line) for line in body(response).splitlines()]
    assert [line["description"] for line in lines] == ["mine"]
    assert lines[0]["user"] == "user@acme.test"


def test_export_is_itself_audited(owner: User, agent_a: Agent, mixed: None) -> None:
    body(client_for(owner).get(export_url(agent_a, "?format=jsonl")))

    assert AuditEvent.objects.filter(description="Exported the audit log (JSONL)").exists()


def test_export_refuses_an_unknown_format_and_strangers(
    owner: User, stranger: User, agent_a: Agent
) -> None:
    assert client_for(owner).get(export_url(agent_a, "?format=xlsx")).status_code == 400
    assert client_for(stranger).get(export_url(agent_a, "?format=csv")).status_code == 404


def test_the_page_links_to_exports_of_the_filtered_view(owner: User, agent_a: Agent) -> None:
    html = client_for(owner).get(
        reverse("accounts:audit-logs", args=[agent_a.public_id]) + "?action=delete"
    )

    assert "?format=csv&amp;action=delete" in html.content.decode()


def test_manage_py_audit_export_filters(org_a: Organization, mixed: None) -> None:
    out = io.StringIO()
    call_command(
        "audit", "export", "--format", "jsonl", "--org", str(org_a.pk), "--action", "delete",
        stdout=out,
    )  # fmt: skip

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["description"] for line in lines] == ["gone"]


def test_manage_py_audit_export_rejects_a_bad_date(db: None) -> None:
    with pytest.raises(CommandError, match="is not a date"):
        call_command("audit", "export", "--since", "yesterday")


def test_events_from_the_release_before_the_chain_are_counted_not_failed(
    trail: list[AuditEvent], org_a: Organization
) -> None:
    """During a rolling upgrade the old release still writes events, without hashes."""
    AuditEvent.objects.create(
        organization=org_a, actor="old release", action="read", resource="r", description="d",
        status="success",
    )  # fmt: skip
    after = write(org_a, "after the upgrade")

    assert after.previous_hash == trail[-1].hash  # links past the unchained one
    assert "7 event(s) (1 written before the chain)" in verify("--org", str(org_a.pk))


def test_blanking_an_edited_events_hash_is_still_caught(trail: list[AuditEvent]) -> None:
    AuditEvent.objects.filter(pk=trail[2].pk).update(
        description="edited", hash="", previous_hash=""
    )

    with pytest.raises(CommandError, match=f"event #{trail[3].pk}: .*deleted or reordered"):
        verify()


def test_the_plain_sql_names_the_models_table() -> None:
    assert AuditEvent._meta.db_table == audit.TABLE
