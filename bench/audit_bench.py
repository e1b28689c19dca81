"""What the audit hash chain costs: appending an event to the chain against a plain insert
of the same row, and how fast `manage.py audit verify` walks a trail, in one run.

  .venv/bin/python bench/audit_bench.py                          # a throwaway SQLite file
  .venv/bin/python bench/audit_bench.py --database-url postgres://postgres@127.0.0.1/a2v2_audit_bench

The database is migrated first; on PostgreSQL give a database of the bench's own. The two
write phases alternate over --rounds rounds; printed are each phase's median ms per event
and their ratio (compare the ratio on a shared machine, not the absolute figures).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="Default: a new SQLite file in a temp folder.")
    parser.add_argument("--events", type=int, default=1000, help="Per phase and round.")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="a2v2-audit-bench-")
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{folder}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "a2v2.settings_test")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts import audit
    from accounts.models import AuditAction, AuditEvent, Organization

    organization = Organization.objects.create(name="audit bench")

    def chained(n: int) -> None:
        AuditEvent.record(
            action=AuditAction.READ, resource="Bench", description=f"chained {n}",
            organization=organization, actor="bench",
        )  # fmt: skip

    def plain(n: int) -> None:
        AuditEvent.objects.create(
            action=AuditAction.READ, resource="Bench", description=f"plain {n}",
            organization=organization, actor="bench",
        )  # fmt: skip

    timings: dict[str, list[float]] = {"chained append": [], "plain insert": []}
    for _ in range(args.rounds):
        for name, write in (("chained append", chained), ("plain insert", plain)):
            started = time.perf_counter()
            for n in range(args.events):
                write(n)
            timings[name].append((time.perf_counter() - started) / args.events * 1000)
    AuditEvent.objects.filter(organization=organization, hash="").delete()
    started = time.perf_counter()
    trail = AuditEvent.objects.trail(organization.pk).iterator(chunk_size=2000)
    report = audit.verify(trail, organization.pk)
    verify_seconds = time.perf_counter() - started

    from django.db import connection

    print(f"{connection.vendor}, {args.events} events x {args.rounds} rounds per phase")
    for name, values in timings.items():
        rounds = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:15} {statistics.median(values):6.2f} ms/event  (rounds: {rounds})")
    ratio = statistics.median(timings["chained append"]) / statistics.median(
        timings["plain insert"]
    )
    print(f"  chained / plain {ratio:6.2f}x")
    print(
        f"  verify          {report.events / verify_seconds:,.0f} events/s "
        f"({report.events} events, ok={report.ok})"
    )


if __name__ == "__main__":
    main()
