"""The key lookup's one query: an API key by its public id, with its agent.

Without Redis the row is read from the database on every request; with Redis a process
keeps it (apikeys/records.py) and checks it is still current in the same round trip that
counts the rate limits. Either way a deleted, narrowed, re-allowlisted, expired or rotated
key is refused by the very next request in every process. What is kept here is the
statement: building and compiling the same queryset for every request cost ten times what
running it did (1.8 ms against 0.18 ms on SQLite), so Django compiles it once per process
and database; PostgreSQL prepares it once per connection; each lookup only executes it and
turns the row into model instances.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.models.base import ModelState

from accounts.models import Agent
from apikeys.models import ApiKey


@dataclass(frozen=True)
class Statement:
    sql: str
    key_fields: list[str]  # attribute names, in column order
    agent_fields: list[str]
    converters: list[tuple[int, list[Callable[..., Any]], Any]]  # per column needing one


# What a request reads of a key and its agent; the rest (the encrypted copy, who created
# it, last-used address…) loads on demand, which no Open API request needs.
FIELDS = (
    "key_id", "name", "description", "ip_allowlist", "rate_limit_per_minute",
    "rate_limit_per_hour", "expires_at", "secret_hash", "previous_secret_hash",
    "previous_secret_expires_at", "pending_grace", "created_at", "last_used_at",
    *(f"{area}_{action}" for area in ("contacts", "documents")
      for action in ("create", "read", "update", "delete")),
    "agent__public_id", "agent__name", "agent__organization_id",
)  # fmt: skip


@functools.cache
def statement(alias: str, vendor: str) -> Statement:
    """`ApiKey.objects.select_related("agent").only(*FIELDS).filter(key_id=…)[:1]`,
    compiled by Django."""
    keys = ApiKey.objects.using(alias).select_related("agent").only(*FIELDS)
    query = keys.filter(key_id="?")
    compiler = query.order_by()[:1].query.get_compiler(alias)
    sql, params = compiler.as_sql()
    if list(params) != ["?"]:
        raise RuntimeError(f"The key lookup compiled to unexpected parameters: {params!r}")
    targets = [column.target for column, _, _ in compiler.select]
    converters = compiler.get_converters([column for column, _, _ in compiler.select])
    return Statement(
        sql=sql,
        key_fields=[f.attname for f in targets if f.model is ApiKey],
        agent_fields=[f.attname for f in targets if f.model is Agent],
        converters=[(index, funcs, column) for index, (funcs, column) in converters.items()],
    )


def _fetch_row(connection: BaseDatabaseWrapper, sql: str, key_id: str) -> tuple | None:
    pooled = connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    if connection.vendor == "postgresql" and not pooled:
        return _fetch_prepared(connection, sql, key_id)
    # sqlite3 keeps compiled statements by their text (cached_statements), so this one
    # is prepared once per connection already.
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_id])
        return cursor.fetchone()


def _fetch_prepared(connection: BaseDatabaseWrapper, sql: str, key_id: str) -> tuple | None:
    """A server-side prepared statement: PostgreSQL parses and plans the lookup once per
    connection. Planning this join took longer than running it (EXPLAIN ANALYZE: ~1 ms
    against ~0.1 ms), and Django's cursors bind parameters client-side, which cannot be
    prepared. (Not behind PgBouncer's transaction pooling: PGBOUNCER_TRANSACTION_POOLING.)
    """
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors:
        try:
            return _execute_prepared(connection, sql, key_id)
        except psycopg.OperationalError:
            if connection.in_atomic_block:
                raise
            # A kept connection that died while idle (a restarted server, a dropped
            # socket): what Django's per-request health check (CONN_HEALTH_CHECKS, one
            # more round trip on every request) would have caught. Reconnect, once.
            connection.close()
            connection.ensure_connection()
            return _execute_prepared(connection, sql, key_id)


def _execute_prepared(connection: BaseDatabaseWrapper, sql: str, key_id: str) -> tuple | None:
    cursor = _prepared_cursor(connection)
    try:
        cursor.execute(sql, [key_id], prepare=True)
        return cursor.fetchone()
    except Exception:
        connection._apikey_cursor = None  # type: ignore[attr-defined]
        raise


def _prepared_cursor(connection: BaseDatabaseWrapper) -> Any:
    """One psycopg cursor per database connection, kept for the next request (creating one
    per lookup cost about as much as running the statement)."""
    import psycopg

    raw = connection.connection
    held = getattr(connection, "_apikey_cursor", None)
    if held is not None and held[0] is raw:
        return held[1]
    if raw.prepare_threshold is None:
        # Django turns psycopg's automatic preparing off (None), which also refuses an
        # explicit prepare. A threshold never reached keeps every other query unprepared
        # (Django's client-side binding cursors never prepare anyway) and allows this one.
        raw.prepare_threshold = sys.maxsize
    cursor = psycopg.Cursor(raw)
    connection._apikey_cursor = (raw, cursor)  # type: ignore[attr-defined]
    return cursor


def row(key_id: str, using: str = "default") -> list[Any] | None:
    """The key's and its agent's field values, converted to Python, or None."""
    connection = connections[using]
    compiled = statement(using, connection.vendor)
    found = _fetch_row(connection, compiled.sql, key_id)
    if found is None:
        return None
    values = list(found)
    for index, funcs, column in compiled.converters:
        for convert in funcs:
            values[index] = convert(values[index], column, connection)
    return values


def build(values: list[Any], using: str = "default") -> ApiKey:
    """Model instances (a key with its agent loaded) from `row`'s values."""
    compiled = statement(using, connections[using].vendor)
    split = len(compiled.key_fields)
    key = ApiKey.from_db(using, compiled.key_fields, values[:split])
    agent = Agent.from_db(using, compiled.agent_fields, values[split:])
    ApiKey.agent.field.set_cached_value(key, agent)
    return key


def _copy(instance: Model) -> Any:
    # What Model.from_db builds, without running __init__ and its signals again for
    # values already converted: 2.7 against 16 µs of CPU for key and agent (min of 5 runs).
    copy = instance.__class__.__new__(instance.__class__)
    copy.__dict__.update(instance.__dict__)
    copy._state = ModelState()
    copy._state.adding = False
    copy._state.db = instance._state.db
    return copy


def copy_of(key: ApiKey) -> ApiKey:
    """A new instance of this key and of its agent, with the same field values."""
    copy = _copy(key)
    ApiKey.agent.field.set_cached_value(copy, _copy(key.agent))
    return copy


def find(key_id: str, using: str = "default") -> ApiKey | None:
    """The key with this public id (its agent loaded too), or None."""
    values = row(key_id, using)
    return None if values is None else build(values, using)
