from __future__ import annotations

import json
from collections import Counter
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apikeys import crypto
from apikeys.models import ApiKey

STATES = ("current", "older hashing key", "argon2id", "unknown")


def hash_report() -> dict[str, dict[str, int]]:
    """How many stored hashes are in each state: current secrets, and previous secrets
    still inside their rotation grace."""
    current: Counter[str] = Counter()
    previous: Counter[str] = Counter()
    now = timezone.now()
    rows = ApiKey.objects.values_list(
        "secret_hash", "previous_secret_hash", "previous_secret_expires_at"
    )
    for secret_hash, previous_hash, previous_until in rows:
        current[crypto.hash_state(secret_hash)] += 1
        if previous_hash and previous_until and previous_until > now:
            previous[crypto.hash_state(previous_hash)] += 1
    return {
        "secrets": {state: current[state] for state in STATES},
        "previousSecrets": {state: previous[state] for state in STATES},
    }


class Command(BaseCommand):
    help = (
        "Re-hash stored API key secrets under the first of APIKEY_HASH_KEYS, from their "
        "encrypted copies, and report how many still use an older hashing key or argon2id "
        "(those are re-hashed on their next successful use). To rotate the hashing key: set "
        "APIKEY_HASH_KEYS=new,old and restart, run this command, and remove old once "
        "--check reports no secret left on an older hashing key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Only report; change nothing.")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.APIKEY_HASH_KEYS:
            raise CommandError("APIKEY_HASH_KEYS is not set.")
        rehashed, not_rehashed = 0, []
        if not options["check"]:
            stale = ApiKey.objects.exclude(secret_hash__startswith=crypto.current_prefix())
            for key in stale.iterator():
                if key.rehash_from_copy():
                    rehashed += 1
                else:  # show-once (no copy) or an unknown hashing key: left as it is
                    not_rehashed.append(key.key_id)
        report = {"rehashed": rehashed, "notRehashed": not_rehashed, **hash_report()}
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write(self.as_text(report, options["check"]))

    def as_text(self, report: dict[str, Any], check: bool) -> str:
        def counts(states: dict[str, int]) -> str:
            return ", ".join(f"{state} {states[state]}" for state in STATES)

        lines = [] if check else [f"Re-hashed {report['rehashed']} API key(s)."]
        lines.append(f"Secrets: {counts(report['secrets'])}.")
        lines.append(
            f"Previous secrets in their grace period: {counts(report['previousSecrets'])}."
        )
        if report["notRehashed"]:
            lines.append(
                "Not re-hashed (no readable copy, or an unknown hashing key): "
                + ", ".join(report["notRehashed"])
            )
        if report["secrets"]["unknown"] or report["previousSecrets"]["unknown"]:
            lines.append(
                "Keys hashed under a hashing key no longer in APIKEY_HASH_KEYS cannot be "
                "verified: put that key back, or rotate those API keys."
            )
        return "\n".join(lines)
