"""Reachability of the services a web process depends on."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)


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
            return cursor.fetchone() == (1,)
    except Exception:
        logger.warning("Health check: database unreachable", exc_info=True)
        connection.close_if_unusable_or_obsolete()
        return False


def cache_reachable() -> bool:
    token = secrets.token_hex(8)
    try:
        cache.set("health:probe", token, timeout=10)
        return cache.get("health:probe") == token
    except Exception:
        logger.warning("Health check: cache unreachable", exc_info=True)
        return False


def check_dependencies() -> Dependencies:
    return Dependencies(database=database_reachable(), cache=cache_reachable())
