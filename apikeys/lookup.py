"""The hot path's one query: an API key by its public id, with its agent.

The row is read from the database on every request, so a deleted, narrowed, re-allowlisted,
expired or rotated key is refused by the very next request in every process; nothing about
a key is cached. What is kept is the compiled statement: building and compiling the same
queryset for every request cost more than running it (profiled on `keys/me`), so Django
compiles it once per process and database, and each request only executes it and turns
the row into model instances.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections

from accounts.models import Agent
from apikeys.models import ApiKey


@dataclass(frozen=True)
class Statement:
    sql: str
    key_fields: list[str]  # attribute names, in column order
    agent_fields: list[str]
    converters: list[tuple[int, list[Callable[..., Any]], Any]]  # per column needing one


@functools.cache
def statement(alias: str, vendor: str) -> Statement:
    """`ApiKey.objects.select_related("agent").filter(key_id=…)[:1]`, compiled by Django."""
    query = ApiKey.objects.using(alias).select_related("agent").filter(key_id="?")
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


def find(key_id: str, using: str = "default") -> ApiKey | None:
    """The key with this public id (its agent loaded too), or None."""
    connection = connections[using]
    compiled = statement(using, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, [key_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, funcs, column in compiled.converters:
        for convert in funcs:
            values[index] = convert(values[index], column, connection)
    split = len(compiled.key_fields)
    key = ApiKey.from_db(using, compiled.key_fields, values[:split])
    agent = Agent.from_db(using, compiled.agent_fields, values[split:])
    ApiKey.agent.field.set_cached_value(key, agent)
    return key
