"""Reachability of the services a web process depends on."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection

from a2v2.outage import outage
from a2v2.version import version
from extraction.models import Document, Worker


@dataclass(frozen=True)
class Dependencies:
    database: bool
    cache: bool

    @property
    def healthy(self) -> bool:
        return self.database and self.cache

    @property
    def down(self) -> list[str]:
        return [name for name, up in self.as_bools().items() if not up]

    def as_bools(self) -> dict[str, bool]:
        return {"database": self.database, "cache": self.cache}

    def as_dict(self) -> dict[str, str]:
        return {name: "ok" if up else "unavailable" for name, up in self.as_bools().items()}


def database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            reachable = cursor.fetchone() == (1,)
    except Exception as error:
        outage("database").failed(error, "health check")
        connection.close_if_unusable_or_obsolete()
        return False
    outage("database").succeeded()
    return reachable


def cache_reachable() -> bool:
    token = secrets.token_hex(8)
    try:
        cache.set("health:probe", token, timeout=10)
        reachable = cache.get("health:probe") == token
    except Exception as error:
        outage("cache").failed(error, "health check")
        return False
    outage("cache").succeeded()
    return reachable


def check_dependencies() -> Dependencies:
    return Dependencies(database=database_reachable(), cache=cache_reachable())


def operational_details(database_up: bool) -> dict[str, Any]:
    """For monitors only (a2v2.monitoring): the release, the task queue and its workers."""
    details: dict[str, Any] = {"version": version()}
    if not database_up:
        return details
    try:
        details["queue"] = Document.objects.queue_summary()
        seen = Worker.objects.seen_within(settings.WORKER_SEEN_SECONDS).count()
    except DatabaseError:
        return details
    details["workers"] = {"seen": seen, "withinSeconds": settings.WORKER_SEEN_SECONDS}
    return details
