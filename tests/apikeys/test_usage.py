"""Usage per key: what is counted, how it is written, and what a key's page shows."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import Agent, User
from apikeys import keyformat, usage
from apikeys.insights import chart, usage_report
from apikeys.models import GRACE_PERIODS, ApiKey, KeyAddress, KeyUsage, UsageOutcome
from tests.conftest import client_for
from tests.factories import make_key

pytestmark = pytest.mark.django_db
ME = "/v1/open/keys/me"


def contacts_url(agent: Agent) -> str:
    return f"/v1/open/contacts/chatbots/{agent.public_id}"


def calls(key: ApiKey, outcome: str, permission: str | None = None) -> int:
    rows = KeyUsage.objects.filter(key=key, outcome=outcome)
    if permission is not None:
        rows = rows.filter(permission=permission)
    return sum(rows.values_list("calls", flat=True))


def test_served_and_refused_calls_are_counted_per_key_outcome_and_permission(
    client: Client, agent_a: Agent, agent_b: Agent
) -> None:
    key, full = make_key(
        agent_a, "contacts_read", ip_allowlist="127.0.0.1", rate_limit_per_minute=4
    )
    headers = {"x-api-key": full}
    assert client.get(contacts_url(agent_a), headers=headers).status_code == 200
    assert client.get(contacts_url(agent_a), headers=headers).status_code == 200
    assert client.post(contacts_url(agent_a), {}, headers=headers).status_code == 403
    assert client.get(contacts_url(agent_b), headers=headers).status_code == 404
    assert client.get(ME, headers=headers, REMOTE_ADDR="198.51.100.9").status_code == 403
    assert client.get(ME, headers=headers).status_code == 429  # the fifth call this minute

    assert usage.flush() > 0
    assert calls(key, UsageOutcome.SERVED, "contacts:read") == 2
    assert calls(key, UsageOutcome.PERMISSION, "contacts:create") == 1
    assert calls(key, UsageOutcome.AGENT) == 1
    assert calls(key, UsageOutcome.IP) == 1
    assert calls(key, UsageOutcome.RATE_LIMIT) == 1
    seen = {row.address: row for row in KeyAddress.objects.filter(key=key, served=True)}
    assert seen["127.0.0.1"].calls == 2
    assert seen["127.0.0.1"].last_endpoint == "GET /v1/open/contacts/chatbots/{agent_id}"


def test_expired_keys_and_wrong_secrets_are_counted_against_the_key(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a, expires_at=timezone.now() - timedelta(seconds=1))
    client.get(ME, headers={"x-api-key": full})
    client.get(ME, headers={"x-api-key": keyformat.compose(key.key_id, keyformat.new_secret())})
    usage.flush()
    assert calls(key, UsageOutcome.EXPIRED) == 1
    assert calls(key, UsageOutcome.SECRET) == 1


def test_one_row_per_bucket_and_flushes_add_up(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    for _ in range(3):
        client.get(ME, headers={"x-api-key": full})
    usage.flush()
    for _ in range(2):
        client.get(ME, headers={"x-api-key": full})
    usage.flush()
    [row] = KeyUsage.objects.filter(key=key)
    assert row.calls == 5 and row.outcome == UsageOutcome.SERVED


def test_nothing_is_written_before_the_flush_interval(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    usage.accumulator.last_flush = usage.time.monotonic()
    client.get(ME, headers={"x-api-key": full})
    assert not KeyUsage.objects.filter(key=key).exists()
    usage.accumulator.last_flush -= 61
    client.get(ME, headers={"x-api-key": full})
    assert calls(key, UsageOutcome.SERVED) == 2


@override_settings(APIKEY_USAGE_ENABLED=False)
def test_counting_can_be_switched_off(client: Client, agent_a: Agent) -> None:
    _, full = make_key(agent_a)
    client.get(ME, headers={"x-api-key": full})
    assert usage.flush() == 0


def test_counts_of_a_key_deleted_before_the_flush_are_dropped(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a)
    client.get(ME, headers={"x-api-key": full})
    key.delete()
    assert usage.flush() == 0


def test_report_slots_and_totals(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    client.get(ME, headers={"x-api-key": full})
    client.get(ME, headers={"x-api-key": full}, REMOTE_ADDR="10.0.0.1")
    usage.flush()
    day = usage_report(key, "24h")
    assert len(day.slots) == 24 and day.served == 2 and day.refused == 0
    assert {a.address for a in day.addresses} == {"127.0.0.1", "10.0.0.1"}
    assert day.last_use is not None and day.last_use.endpoint == "GET /v1/open/keys/me"
    assert len(usage_report(key, "7d").slots) == 7
    assert len(usage_report(key, "30d").slots) == 30


def test_old_secret_calls_are_counted_on_the_rotation(client: Client, agent_a: Agent) -> None:
    key, old = make_key(agent_a)
    key.rotate(GRACE_PERIODS["1h"])
    client.get(ME, headers={"x-api-key": old}, REMOTE_ADDR="10.9.9.9")
    usage.flush()
    rotation = key.rotations.get()
    assert rotation.old_secret_calls == 1 and rotation.old_secret_last_seen_at is not None
    assert KeyAddress.objects.get(key=key, old_secret=True).address == "10.9.9.9"


def test_grace_from_first_use_waits_for_the_new_secret(client: Client, agent_a: Agent) -> None:
    key, old = make_key(agent_a)
    new = key.rotate(GRACE_PERIODS["1h"], on_first_use=True)
    with freeze_time(timezone.now() + timedelta(days=3)):
        assert client.get(ME, headers={"x-api-key": old}).status_code == 200  # still waiting
        assert client.get(ME, headers={"x-api-key": new}).status_code == 200  # starts the hour
        key.refresh_from_db()
        assert key.pending_grace is None and key.previous_secret_expires_at is not None
        assert client.get(ME, headers={"x-api-key": old}).status_code == 200
    with freeze_time(timezone.now() + timedelta(days=3, hours=1, minutes=1)):
        assert client.get(ME, headers={"x-api-key": old}).status_code == 401
    rotation = key.rotations.get()
    assert rotation.grace_on_first_use and rotation.grace_started_at is not None


def test_the_key_page_shows_usage_addresses_and_last_use(
    client: Client, owner: User, agent_a: Agent
) -> None:
    key, full = make_key(agent_a, "contacts_read", name="CRM sync")
    client.get(contacts_url(agent_a), headers={"x-api-key": full}, REMOTE_ADDR="10.1.2.3")
    client.post(contacts_url(agent_a), {}, headers={"x-api-key": full})
    usage.flush()
    page = client_for(owner).get(
        reverse("apikeys:api-key-detail", args=[agent_a.public_id, key.key_id])
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "CRM sync" in html and "10.1.2.3" in html
    assert "GET /v1/open/contacts/chatbots/{agent_id}" in html
    assert "Missing permission" in html
    assert "<svg" in html and 'class="sr-only"' in html
    for range_name in ("7d", "30d", "bogus"):
        response = client_for(owner).get(page.request["PATH_INFO"], {"range": range_name})
        assert response.status_code == 200


def test_the_api_reports_the_calling_keys_usage(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    client.get(ME, headers={"x-api-key": full})
    usage.flush()
    body = client.get(f"{ME}/usage?range=7d", headers={"x-api-key": full}).json()
    assert body["success"] is True
    assert body["data"]["keyId"] == key.key_id and body["data"]["served"] >= 1
    assert len(body["data"]["series"]) == 7
    bad = client.get(f"{ME}/usage?range=1y", headers={"x-api-key": full})
    assert bad.status_code == 422 and bad.json()["success"] is False


def run_apikey(*args: str) -> str:
    out = StringIO()
    call_command("apikey", *args, stdout=out)
    return out.getvalue()


def test_the_usage_command_prints_text_and_json(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    client.get(ME, headers={"x-api-key": full})
    usage.flush()
    text = run_apikey("usage", key.key_id)
    assert "1 served, 0 refused" in text and "GET /v1/open/keys/me" in text
    data = json.loads(run_apikey("usage", key.key_id, "--range", "7d", "--json"))
    assert data["served"] == 1 and len(data["series"]) == 7
    with pytest.raises(CommandError, match="No API key"):
        call_command("apikey", "usage", "nope")


def test_prune_keeps_90_days_of_usage_by_default(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a)
    client.get(ME, headers={"x-api-key": full})
    usage.flush()
    KeyUsage.objects.create(
        key=key, hour=timezone.now() - timedelta(days=91), outcome="served", calls=3
    )
    out = StringIO()
    call_command("prune", "--json", stdout=out)
    assert json.loads(out.getvalue())["keyUsage"] == 1
    assert KeyUsage.objects.filter(key=key).count() == 1
    with pytest.raises(CommandError, match="usage-days"):
        call_command("prune", "--usage-days", "0")


def test_the_chart_stacks_refused_calls_on_served_ones(client: Client, agent_a: Agent) -> None:
    key, full = make_key(agent_a, rate_limit_per_minute=3)
    for _ in range(5):
        client.get(ME, headers={"x-api-key": full})  # 3 served, 2 over the limit
    usage.flush()
    drawn = chart(usage_report(key, "24h"))
    bar = drawn.bars[-1]
    assert (bar.slot.served, bar.slot.refused) == (3, 2)
    assert bar.refused_y + bar.refused_height == pytest.approx(bar.served_y)
    assert bar.served_y + bar.served_height == pytest.approx(drawn.plot_bottom)
    assert [value for _, value in drawn.gridlines] == [0, 5, 10]  # 5 calls: a scale to 10
    assert sum(b.tick for b in drawn.bars) == 8  # every third hour labelled


def test_a_rotation_from_the_command_is_in_the_history(agent_a: Agent) -> None:
    key, _ = make_key(agent_a)
    run_apikey("rotate", key.key_id, "--grace", "24h", "--grace-from-first-use")
    rotation = key.rotations.get()
    assert rotation.actor == "manage.py apikey" and rotation.grace_on_first_use
    assert rotation.grace_label == "24 hours from the new key's first use"


@override_settings(APIKEY_FAILURES_PER_CLIENT=2)
def test_a_right_secret_refused_for_its_address_failures_is_counted(
    client: Client, agent_a: Agent
) -> None:
    key, full = make_key(agent_a)
    wrong = keyformat.compose(key.key_id, keyformat.new_secret())
    for _ in range(3):
        client.get(ME, headers={"x-api-key": wrong}, REMOTE_ADDR="198.51.100.7")
    assert (
        client.get(ME, headers={"x-api-key": full}, REMOTE_ADDR="198.51.100.7").status_code == 429
    )
    usage.flush()
    assert calls(key, UsageOutcome.FAILURES) == 1
    assert calls(key, UsageOutcome.SECRET) >= 2


def test_a_database_error_while_flushing_loses_the_minute_not_the_request(
    client: Client,
    agent_a: Agent,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, full = make_key(agent_a)
    client.get(ME, headers={"x-api-key": full})

    def broken(_: object) -> None:
        raise DatabaseError("disk full")

    monkeypatch.setattr(usage, "_upsert_usage", broken)
    assert usage.flush() == 0
    assert "this minute is lost" in caplog.text
    usage.accumulator.last_flush -= 61  # the next call flushes, fails, and is still served
    assert client.get(ME, headers={"x-api-key": full}).status_code == 200


def test_switching_the_period_with_htmx_returns_only_the_usage_panel(
    owner: User, agent_a: Agent
) -> None:
    key, _ = make_key(agent_a)
    page = reverse("apikeys:api-key-detail", args=[agent_a.public_id, key.key_id])
    response = client_for(owner).get(page, {"range": "30d"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card panel" id="usage"')
    assert "Last 30 days" in html and "Rotation history" not in html
    assert response["Vary"].count("HX-Request") == 1


def test_the_key_page_is_for_key_managers_only(
    owner: User, member: User, stranger: User, agent_a: Agent, agent_b: Agent
) -> None:
    key, _ = make_key(agent_a)
    page = reverse("apikeys:api-key-detail", args=[agent_a.public_id, key.key_id])
    assert client_for(member).get(page).status_code == 403
    assert client_for(stranger).get(page).status_code == 404
    elsewhere = reverse("apikeys:api-key-detail", args=[agent_b.public_id, key.key_id])
    assert client_for(stranger).get(elsewhere).status_code == 404
    assert client_for(owner).get(page).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_processes_flushing_the_same_buckets_at_once_lose_nothing(
    agent_a: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    """Two workers writing overlapping buckets at the same moment, each having counted them
    in its own order: every count arrives (PostgreSQL once found such writers deadlocked
    and dropped a minute)."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL (the test database on SQLite is one shared cache)")
    keys = [make_key(agent_a)[0] for _ in range(20)]
    hour = int(time.time()) // 3600 * 3600
    counted = {
        (key.pk, hour, outcome, "contacts:read", False): 1
        for key in keys
        for outcome in (UsageOutcome.SERVED, UsageOutcome.RATE_LIMIT)
    }
    seen = {
        (key.pk, hour, f"10.0.0.{n}", True, False): usage.Seen(1, time.time(), ("GET", "x"))
        for key in keys
        for n in range(5)
    }
    rounds = 20
    together = threading.Barrier(2)

    def worker(backwards: bool) -> None:
        order = reversed if backwards else list
        try:
            for _ in range(rounds):
                together.wait()
                usage.write(dict(order(list(counted.items()))), dict(order(list(seen.items()))))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(b,)) for b in (False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert "this minute is lost" not in caplog.text
    assert sum(KeyUsage.objects.values_list("calls", flat=True)) == 2 * rounds * len(counted)
    assert sum(KeyAddress.objects.values_list("calls", flat=True)) == 2 * rounds * len(seen)
