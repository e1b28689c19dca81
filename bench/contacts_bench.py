"""How the contacts API holds up with a million contacts in one agent, on PostgreSQL.

Creates (or recreates) the database named in DATABASE_URL, migrates it, loads
--contacts contacts into one agent with COPY (plus a few other agents with some contacts
each, so every query must filter), then times real requests through Django's test
Client, so the whole middleware stack runs: key verification, rate limits, envelope.

Measured, each --samples times (p50/p95/p99 milliseconds of wall time, and the CPU time
this process, i.e. Django and our code without PostgreSQL, spent: on a busy machine the
second shows what is ours):
  list page 1 · a page deep in the list (page 5000 at limit 100), by number and by cursor ·
  search by name prefix ·
  lookup by email · get by external reference id · create
and the bulk import of a --import-rows CSV through contacts/importing.py (rows/s).

Usage:
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/a2v2_bench \\
      .venv/bin/python bench/contacts_bench.py [--contacts 1000000] [--samples 200]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import secrets
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_NAMES = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily "
    "Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Dorothy George Melissa "
    "Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia "
    "Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry "
    "Pamela Justin Emma Scott Nicole Brandon Helen Benjamin Samantha Samuel Katherine Gregory "
    "Christine Alexander Debra Frank Rachel Patrick Carolyn Raymond Janet Jack Catherine "
    "Dennis Maria Jerry Heather Tyler Diane Aaron Ruth Jose Julie Adam Olivia Nathan Joyce "
    "Henry Virginia Douglas Victoria Zachary Kelly Peter Lauren Kyle Christina Ethan Joan "
    "Walter Evelyn Noah Judith Jeremy Megan Christian Andrea Keith Cheryl Roger Hannah Terry "
    "Jacqueline Gerald Martha Harold Gloria Sean Teresa Austin Ann Carl Sara Arthur Madison "
    "Lawrence Frances Dylan Kathryn Jesse Janice Jordan Jean Bryan Abigail Billy Alice Joe "
    "Julia Bruce Judy Gabriel Sophia Logan Grace Albert Denise Willie Amber Alan Doris Juan "
    "Marilyn Wayne Danielle Elijah Beverly Randy Isabella Roy Theresa Vincent Diana Ralph "
    "Natalie Eugene Brittany Russell Charlotte Bobby Marie Mason Kayla Philip Alexis Louis Lori"
)
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart "
    "Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed "
    "Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray "
    "Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez"
)
FIRST = FIRST_NAMES.split()
LAST = LAST_NAMES.split()
DOMAINS = ["example.com", "mail.test", "corp.example", "shop.test", "inbox.example"]
STAGES = ["Lead", "Prospect", "Customer", "Old Customer", ""]
GENDERS = ["Male", "Female", "Other", ""]


def person(n: int) -> tuple[str, str, str]:
    first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
    email = f"{first}.{last}.{n}@{DOMAINS[n % len(DOMAINS)]}".lower()
    # +1 415/628/650 numbers, unique per n below 3 x 10,000,000.
    mobile = f"+1{(415, 628, 650)[n % 3]}{2000000 + n // 3:07d}"
    return f"{first} {last}", email, mobile


def prepare_environment(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "a2v2.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ.setdefault("KEY_ENCRYPTION_KEYS", "bench-only-key-encryption-key")
    os.environ.setdefault("APIKEY_HASH_KEYS", "bench-only-apikey-hashing-key-0123456789")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    os.environ.setdefault("DEBUG", "false")
    if "CACHE_URL" not in os.environ and redis_reachable("redis://127.0.0.1:6379/14"):
        os.environ["CACHE_URL"] = "redis://127.0.0.1:6379/14"


def redis_reachable(url: str) -> bool:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


def recreate_database(database_url: str) -> None:
    import psycopg

    base, _, name = database_url.rpartition("/")
    url = base.replace("postgres://", "postgresql://", 1) + "/postgres"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def log(message: str) -> None:
    print(message, flush=True)


# --- loading ------------------------------------------------------------------------------


def copy_contacts(agent: Any, count: int, start: int, *, archived_every: int = 100) -> None:
    """COPY `count` contacts into `agent`, created over the last two years, oldest first."""
    from django.db import connection

    from contacts.models import Contact

    table = Contact._meta.db_table
    columns = (
        "agent_id, public_id, external_reference_id, name, email, mobile_number, gender, "
        "status, stage, custom_fields, source, archived, version, created_at, updated_at"
    )
    begin = datetime.now(UTC) - timedelta(days=730)
    step = timedelta(days=730) / max(count, 1)
    rng = random.Random(start)
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for i in range(count):
            n = start + i
            name, email, mobile = person(n)
            created = begin + step * i
            copy.write_row(
                (
                    agent.pk,
                    secrets.token_hex(12),
                    f"ext-{n}",
                    name,
                    email,
                    mobile,
                    GENDERS[n % 4],
                    "Active" if n % 10 else "Inactive",
                    STAGES[n % 5],
                    "{}",
                    "api",
                    n % archived_every == 0,
                    1,
                    created,
                    created + timedelta(hours=rng.randint(0, 5000)),
                )
            )


def load(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Agent, Organization, Role, User
    from contacts.models import Contact, ContactCount

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    owner = User.objects.create_user("bench@example.com", "bench-password-not-used")
    organization = Organization.create_with_owner("Bench", owner)
    other_org = Organization.create_with_owner(
        "Other", User.objects.create_user("other@example.com", "x")
    )
    organization.add_member(User.objects.create_user("admin@example.com", "x"), Role.ADMIN)
    agent = Agent.objects.create(organization=organization, name="Big agent")
    others = [
        Agent.objects.create(organization=org, name=f"Other agent {n}")
        for n, org in enumerate([organization, other_org, other_org])
    ]

    # Bulk loading is faster without the secondary indexes; they are built once afterwards.
    with connection.schema_editor() as editor:
        for index in Contact._meta.indexes:
            editor.remove_index(Contact, index)
    started = time.perf_counter()
    copy_contacts(agent, args.contacts, start=0)
    for n, other in enumerate(others):
        copy_contacts(other, args.other_contacts, start=args.contacts + n * args.other_contacts)
    loaded = time.perf_counter() - started
    log(f"    COPY {args.contacts + 3 * args.other_contacts:,} rows in {loaded:.1f} s")
    started = time.perf_counter()
    with connection.schema_editor() as editor:
        for index in Contact._meta.indexes:
            editor.add_index(Contact, index)
    log(f"    indexes built in {time.perf_counter() - started:.1f} s")
    for each in [agent, *others]:
        ContactCount.recount(each.pk)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Contact._meta.db_table}")
    return {"agent": agent, "owner": owner, "others": others}


# --- measuring ----------------------------------------------------------------------------


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(
    label: str, samples: int, request: Callable[[int], Any], expect: int = 200
) -> dict[str, Any]:
    for i in range(min(5, samples)):  # warm caches and connections
        request(-1 - i)
    timings, cpu = [], []
    for i in range(samples):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = request(i)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        if response.status_code != expect:
            raise SystemExit(f"{label}: HTTP {response.status_code}: {response.content[:300]!r}")
    result = {
        "operation": label,
        "samples": samples,
        "p50_ms": round(percentile(timings, 0.50), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "p99_ms": round(percentile(timings, 0.99), 1),
        "mean_ms": round(statistics.fmean(timings), 1),
        "cpu_p50_ms": round(percentile(cpu, 0.50), 1),
        "cpu_p95_ms": round(percentile(cpu, 0.95), 1),
    }
    verdict = "ok" if result["p95_ms"] <= 30 else "OVER the 30 ms target"
    log(
        f"  {label:<38} p50 {result['p50_ms']:>6.1f}  p95 {result['p95_ms']:>6.1f}  "
        f"p99 {result['p99_ms']:>6.1f}  (app CPU p50 {result['cpu_p50_ms']:>5.1f}, "
        f"p95 {result['cpu_p95_ms']:>5.1f})  {verdict}"
    )
    return result


class Keys:
    """Requests spread over many keys, so per-key rate limits (≤ 1,000/min) are not what
    is measured."""

    def __init__(self, agent: Any, count: int) -> None:
        from django.test import Client

        from tests.factories import make_key

        perms = ("contacts_create", "contacts_read", "contacts_update", "contacts_delete")
        self.client = Client()
        self.headers = []
        for n in range(count):
            _, full_key = make_key(
                agent,
                *perms,
                name=f"Bench {n}",
                rate_limit_per_minute=1000,
                rate_limit_per_hour=10000,
            )
            self.headers.append({"X-API-Key": full_key})
        self.turn = 0

    def next(self) -> dict[str, str]:
        self.turn += 1
        return self.headers[self.turn % len(self.headers)]

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(path, params, headers=self.next())

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(
            path, json.dumps(body), content_type="application/json", headers=self.next()
        )


def run_requests(args: argparse.Namespace, agent: Any) -> list[dict[str, Any]]:
    from django.urls import reverse

    keys = Keys(agent, args.keys)
    list_path = reverse("open-api:create_contact", kwargs={"agent_id": agent.public_id})
    for _ in range(len(keys.headers)):
        keys.get(list_path, {"limit": 1})
    rng = random.Random(7)
    total_pages = max(1, (args.contacts * 99 // 100) // 100)
    deep = min(5000, max(1, total_pages // 2))
    prefixes = sorted({name.lower()[:3] for name in FIRST})

    def existing() -> int:
        return rng.randrange(args.contacts)

    def by_reference(_: int) -> Any:
        path = reverse(
            "open-api:get_contact",
            kwargs={"agent_id": agent.public_id, "external_reference_id": f"ext-{existing()}"},
        )
        response = keys.get(path)
        return response

    deep_cursor = cursor_at(agent, (deep - 1) * 100)
    by_number = keys.get(list_path, {"limit": 100, "page": deep}).json()
    by_cursor = keys.get(list_path, {"limit": 100, "cursor": deep_cursor}).json()
    if by_number["data"] != by_cursor["data"] or by_cursor["pagination"]["page"] != deep:
        raise SystemExit(f"page {deep} by cursor differs from page {deep} by number")
    created = iter(range(10**9))
    results = [
        measure(
            "list page 1 (limit 100)", args.samples, lambda _: keys.get(list_path, {"limit": 100})
        ),
        measure(
            f"list page {deep} (limit 100)",
            args.samples,
            lambda _: keys.get(list_path, {"limit": 100, "page": deep}),
        ),
        measure(
            f"list page {deep} via cursor (limit 100)",
            args.samples,
            lambda _: keys.get(list_path, {"limit": 100, "cursor": deep_cursor}),
        ),
        measure(
            "search by name prefix (3 letters)",
            args.samples,
            lambda _: keys.get(list_path, {"search": rng.choice(prefixes), "limit": 20}),
        ),
        measure(
            "lookup by email",
            args.samples,
            lambda _: keys.get(list_path, {"email": person(existing())[1]}),
        ),
        measure("get by externalReferenceId", args.samples, by_reference, expect=200),
        measure(
            "create",
            args.samples,
            lambda _: keys.post(
                list_path,
                {
                    "name": "Bench Created",
                    "email": f"created.{(n := next(created))}@bench.test",
                    "externalReferenceId": f"bench-{n}",
                },
            ),
            expect=201,
        ),
    ]
    if args.explain:
        explain(agent, deep)
    return results


def cursor_values(agent: Any, position: int) -> tuple[Any, int]:
    from contacts.models import Contact

    ordered = Contact.objects.for_agent(agent).visible().order_by("-created_at", "-id")
    return ordered.values_list("created_at", "pk")[position - 1]


def cursor_at(agent: Any, position: int) -> str:
    """The cursor a client holds after reading `position` contacts of the default list (the
    same one the API hands out with the page before): made here from the row at that
    place, so the bench need not walk thousands of pages to reach it."""
    from contacts import cursors
    from contacts.api import ContactFilters, cursor_query

    created_at, pk = cursor_values(agent, position)
    cursor = cursors.Cursor(created_at, pk, position=position)
    return cursors.encode(cursor, cursor_query(agent, ContactFilters()))


def explain(agent: Any, deep: int) -> None:
    from django.db.models import Count

    from contacts.models import Contact

    contacts = Contact.objects.for_agent(agent).visible()
    plans = {
        "deep page ids": contacts.order_by("-created_at", "-id").values_list("pk", flat=True)[
            (deep - 1) * 100 : deep * 100
        ],
        "deep page ids by cursor": contacts.order_by("-created_at", "-id")
        .after(*cursor_values(agent, (deep - 1) * 100))
        .values_list("pk", flat=True)[:101],
        "search page ids": contacts.search("mar").values_list("pk", flat=True)[:20],
        # The search's total: what `.count()` runs, with the agent as the one group.
        "search count": contacts.search("mar").order_by().values("agent").annotate(n=Count("*")),
        "email": contacts.with_email(person(5)[1]),
    }
    for label, queryset in plans.items():
        log(f"  -- {label}")
        for line in queryset.explain(analyze=True).splitlines()[:6]:
            log(f"     {line}")


def run_import(args: argparse.Namespace, owner: Any) -> dict[str, Any]:
    from accounts.models import Agent
    from contacts import importing

    agent = Agent.objects.create(organization=owner.memberships.first().organization, name="Import")
    lines = ["Name,Email,Mobile,Stage,External ID"]
    offset = 50_000_000
    for n in range(args.import_rows):
        name, email, _ = person(offset + n)
        mobile = f"+1 (415) {(n // 10000) % 800 + 200:03d}-{n % 10000:04d}"
        lines.append(f"{name},{email},{mobile},{STAGES[n % 5]},imp-{n}")
    text = "\n".join(lines) + "\n"
    started = time.perf_counter()
    checked = importing.read_csv(agent, io.StringIO(text))
    checked_at = time.perf_counter()
    imported = importing.import_rows(agent, [values for _, values in checked.good])
    done = time.perf_counter()
    if checked.bad:
        log(f"    {len(checked.bad)} rows refused, e.g. {checked.bad[0].reasons}")
    result = {
        "rows": args.import_rows,
        "imported": imported,
        "csv_bytes": len(text.encode()),
        "check_seconds": round(checked_at - started, 2),
        "insert_seconds": round(done - checked_at, 2),
        "rows_per_second": round(imported / (done - started)),
    }
    log(
        f"  CSV import of {args.import_rows:,} rows: {result['rows_per_second']:,} rows/s "
        f"(check {result['check_seconds']} s, insert {result['insert_seconds']} s)"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1_000_000, help="in the measured agent")
    parser.add_argument("--other-contacts", type=int, default=20_000, help="per other agent")
    parser.add_argument("--samples", type=int, default=200, help="requests per operation")
    parser.add_argument("--keys", type=int, default=12)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--explain", action="store_true", help="print query plans too")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("Set DATABASE_URL=postgres://…/a2v2_bench (it is dropped and recreated).")
    prepare_environment(database_url)
    log(f"==> recreating {database_url.rpartition('/')[2]}")
    recreate_database(database_url)

    import django

    # WhiteNoise notes that collectstatic has not run; the API serves no static files.
    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    from django.conf import settings

    log(
        f"==> loading {args.contacts:,} contacts (+3 agents x {args.other_contacts:,}); "
        f"cache: {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
    )
    world = load(args)
    log(f"==> {args.samples} requests per operation, through the full middleware stack (ms)")
    results = run_requests(args, world["agent"])
    log("==> bulk import through contacts/importing.py")
    imported = run_import(args, world["owner"])
    if args.json:
        args.json.write_text(
            json.dumps(
                {"contacts": args.contacts, "requests": results, "import": imported}, indent=2
            )
        )


if __name__ == "__main__":
    main()
