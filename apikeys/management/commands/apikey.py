from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from a2v2.cli import OneLineErrorParser
from accounts.cli import find_agent
from accounts.models import AuditAction
from apikeys import crypto, insights, keyformat
from apikeys.models import (
    ALL_PERMISSIONS,
    EXPIRY_HELP,
    EXPIRY_ZONE,
    GRACE_PERIODS,
    ApiKey,
    Permission,
    WebhookEventType,
    check_expiry_day,
    end_of_day,
)
from apikeys.verification import verify_secret
from apikeys.webhooks import emit_key_event

OPERATOR = "manage.py apikey"


def parse_permission(value: str) -> Permission:
    """`contacts:read`, `documents:create`, … (see --help)."""
    for permission in ALL_PERMISSIONS:
        if value.lower() in (f"{permission.area}:{permission.action}", permission.field):
            return permission
    choices = ", ".join(f"{p.area}:{p.action}" for p in ALL_PERMISSIONS)
    # ArgumentTypeError, so argparse names the argument and exits 2 instead of a traceback.
    raise argparse.ArgumentTypeError(f"Unknown permission {value!r}; choose from {choices}.")


def parse_expiry(value: str | None) -> datetime | None:
    """A date means the end of that day (the UI's rule, apikeys.models.end_of_day); an ISO
    date-time is taken as the exact moment."""
    if not value:
        return None
    try:
        day = parse_date(value)
        moment = None if day else parse_datetime(value)
    except ValueError:
        day = moment = None
    if day is not None:
        try:
            check_expiry_day(day)
        except ValidationError as error:
            raise CommandError(_one_line(error)) from None
        return end_of_day(day)
    if moment is None:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD) or an ISO date-time.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, EXPIRY_ZONE)
    if moment <= timezone.now():
        raise CommandError("The expiry must be in the future.")
    return moment


def describe(key: ApiKey) -> dict[str, Any]:
    return {
        "keyId": key.key_id,
        "name": key.name,
        "description": key.description,
        "agent": key.agent.public_id,
        "permissions": key.permissions_by_area(),
        "ipAllowlist": key.ip_allowlist,
        "rateLimits": {"perMinute": key.rate_limit_per_minute, "perHour": key.rate_limit_per_hour},
        "expiresAt": key.expires_at.isoformat() if key.expires_at else None,
        "createdAt": key.created_at.isoformat(),
        "lastUsedAt": key.last_used_at.isoformat() if key.last_used_at else None,
        "lastUsedIp": key.last_used_ip,
        "exposedAt": key.exposed_at.isoformat() if key.exposed_at else None,
    }


def audit(key: ApiKey, action: AuditAction, description: str) -> None:
    key.record(action, description, actor=OPERATOR)


class Command(BaseCommand):
    help = (
        "Manage API keys from the server: create, list, show, rotate, revoke, verify. "
        "Permissions are written area:action, e.g. contacts:read documents:create."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(
            dest="subcommand", required=True, parser_class=OneLineErrorParser
        )

        create = sub.add_parser("create", help="Issue a key and print it once.")
        create.add_argument("--agent", required=True, help="The agent's 24-hex id.")
        create.add_argument("--name", required=True)
        create.add_argument("--description", default="")
        create.add_argument("--ip", default="", help="Comma-separated IPs/CIDRs allowed.")
        create.add_argument("--permission", action="append", default=[], type=parse_permission)
        create.add_argument("--all-permissions", action="store_true")
        create.add_argument("--per-minute", type=int, default=60, help="1 to 1,000 (default 60).")
        create.add_argument(
            "--per-hour",
            type=int,
            default=1000,
            help="1 to 10,000 (default 1,000); not below --per-minute.",
        )
        create.add_argument(
            "--expires",
            metavar="DATE",
            help=f"YYYY-MM-DD: {EXPIRY_HELP} An ISO date-time (2027-06-30T12:00Z) sets the "
            "exact moment instead.",
        )

        listing = sub.add_parser("list", help="List keys (never their secrets).")
        listing.add_argument("--agent", help="Only this agent's keys.")

        show = sub.add_parser("show", help="Show one key's settings.")
        show.add_argument("key_id")
        show.add_argument("--reveal", action="store_true", help="Print the key itself (audited).")

        rotate = sub.add_parser("rotate", help="Give a key a new secret, keeping its settings.")
        rotate.add_argument("key_id")
        rotate.add_argument(
            "--grace",
            choices=list(GRACE_PERIODS),
            default="none",
            help="How long the old secret keeps working.",
        )
        rotate.add_argument(
            "--grace-from-first-use",
            action="store_true",
            help="Start the grace period at the new secret's first use.",
        )

        revoke = sub.add_parser("revoke", help="Delete a key; it stops working at once.")
        revoke.add_argument("key_id")

        verify = sub.add_parser("verify", help="Check a key string ('-' reads it from stdin).")
        verify.add_argument("key")

        usage_parser = sub.add_parser(
            "usage", help="A key's calls, refusals, addresses and last use over a period."
        )
        usage_parser.add_argument("key_id")
        usage_parser.add_argument(
            "--range", choices=list(insights.RANGES), default="24h", help="Default 24h."
        )

        for subparser in (create, listing, show, rotate, revoke, verify, usage_parser):
            subparser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        handler = getattr(self, f"do_{options['subcommand']}")
        result = handler(options)
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self.stdout.write(self.as_text(options["subcommand"], result))

    def as_text(self, subcommand: str, result: Any) -> str:
        if subcommand == "usage":
            return usage_text(result)
        if subcommand == "list":
            rows = [f"{k['keyId']}  {k['agent']}  {k['name']}" for k in result]
            return "\n".join(rows) or "No API keys."
        lines = [f"{name}: {value}" for name, value in result.items() if name != "key"]
        if "key" in result:
            lines.append(f"key: {result['key']}")
        return "\n".join(lines)

    def get_key(self, key_id: str) -> ApiKey:
        key = ApiKey.objects.select_related("agent__organization").filter(key_id=key_id).first()
        if key is None:
            raise CommandError(f"No API key with id {key_id!r}.")
        return key

    def do_create(self, options: dict[str, Any]) -> dict[str, Any]:
        agent = find_agent(options["agent"])
        permissions = ALL_PERMISSIONS if options["all_permissions"] else options["permission"]
        key = ApiKey(
            agent=agent,
            name=options["name"],
            description=options["description"],
            ip_allowlist=options["ip"],
            rate_limit_per_minute=options["per_minute"],
            rate_limit_per_hour=options["per_hour"],
            expires_at=parse_expiry(options["expires"]),
        )
        key.set_permissions(permissions)
        full_key = key.issue_secret()
        try:
            key.full_clean()
        except ValidationError as error:
            raise CommandError(_one_line(error)) from None
        key.save()
        audit(key, AuditAction.CREATE, "Created API key")
        emit_key_event(WebhookEventType.KEY_CREATED, key)
        return {**describe(key), "key": full_key}

    def do_list(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        keys = ApiKey.objects.select_related("agent")
        if options["agent"]:
            keys = keys.for_agent(find_agent(options["agent"]))
        return [describe(key) for key in keys]

    def do_show(self, options: dict[str, Any]) -> dict[str, Any]:
        key = self.get_key(options["key_id"])
        result = describe(key)
        if options["reveal"]:
            try:
                full_key = key.reveal()
            except crypto.UndecryptableKey:
                raise CommandError(crypto.UndecryptableKey.message) from None
            if full_key is None:
                raise CommandError("This key has no encrypted copy (show-once); rotate it instead.")
            audit(key, AuditAction.READ, "Revealed API key")
            result["key"] = full_key
        return result

    def do_rotate(self, options: dict[str, Any]) -> dict[str, Any]:
        key = self.get_key(options["key_id"])
        try:
            full_key = key.rotate(
                GRACE_PERIODS[options["grace"]],
                on_first_use=options["grace_from_first_use"],
                actor=OPERATOR,
            )
        except ValidationError as error:
            raise CommandError(_one_line(error)) from None
        audit(key, AuditAction.UPDATE, f"Rotated API key (old secret valid: {options['grace']})")
        emit_key_event(WebhookEventType.KEY_ROTATED, key)
        grace_end = key.previous_secret_expires_at
        return {
            **describe(key),
            "oldSecretValidUntil": grace_end.isoformat() if grace_end else None,
            "key": full_key,
        }

    def do_revoke(self, options: dict[str, Any]) -> dict[str, Any]:
        key = self.get_key(options["key_id"])
        result = describe(key)
        audit(key, AuditAction.DELETE, "Revoked (deleted) API key")
        emit_key_event(WebhookEventType.KEY_DELETED, key)
        key.delete()
        return {**result, "revoked": True}

    def do_usage(self, options: dict[str, Any]) -> dict[str, Any]:
        return insights.usage_report(self.get_key(options["key_id"]), options["range"]).as_json()

    def do_verify(self, options: dict[str, Any]) -> dict[str, Any]:
        value = sys.stdin.readline() if options["key"] == "-" else options["key"]
        try:
            presented = keyformat.parse_full_key(value)
        except keyformat.MalformedKey as error:
            raise CommandError(str(error)) from None
        key = ApiKey.objects.find(presented.key_id)
        if key is None or not verify_secret(key, presented):
            raise CommandError("Invalid API key: unknown id or wrong secret.")
        if key.is_expired:
            raise CommandError(f"API key {key.key_id} has expired.")
        return {**describe(key), "valid": True}


def _one_line(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
    return " ".join(error.messages)


def usage_text(report: dict[str, Any]) -> str:
    lines = [
        f"{report['keyId']}: {report['served']} served, {report['refused']} refused "
        f"since {report['since']} (UTC)"
    ]
    lines += [f"  refused, {reason}: {calls}" for reason, calls in report["refusals"].items()]
    lines += [f"  served, {code}: {calls}" for code, calls in report["permissions"].items()]
    lines += [
        f"  from {a['address']}: {a['calls']} call(s), last {a['lastSeenAt']}"
        for a in report["addresses"]
    ]
    last = report["lastUsed"]
    lines.append(
        f"last used: {last['at']} from {last['address']}, {last['endpoint']}"
        if last
        else "last used: never (counts are written about once a minute)"
    )
    return "\n".join(lines)
