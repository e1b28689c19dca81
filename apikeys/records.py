"""Each process's copy of the API keys it has seen, current to the request (Redis only).

A guarded request used to need two round trips in a row: the key's row from the database,
then the counters in Redis. With Redis, a process keeps the row of each key it has served
with the key's *generation*, a random token in Redis beside the counters. The request
checks the secret, expiry and allowlist against the copy in process, then one Lua script
compares the generation and, only when the copy is current, counts (apikeys/counters.py,
`add_if_current`). When it is not, nothing is counted: the row is read again and the
request judged afresh. So a guarded request is the keyed hash plus one Redis round trip,
and any change still refuses the very next request in every process. A secret the copy
does not accept is judged against the row read now (apikeys/verification.py), so a wrong
secret costs what an unknown key id costs.

Every change to a key replaces its generation (`changed`, called by the model's signals
and `ApiKeyQuerySet.update`): first with PENDING, before the change commits, then with a
new token once it has. While PENDING, processes read the row on every request and keep
nothing, so a copy read between the two can never be kept. When Redis cannot be told, the
change is refused (`counters.CountersUnavailable`), so no process is left holding a copy
it cannot know is stale. A change made outside Django's ORM (raw SQL) tells no one: use
the ORM, the UI or `manage.py apikey`.

Without Redis (SQLite's counter file, PostgreSQL's table) nothing is kept: the row is read
on every request, which is cheaper there than a second store's round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save, pre_delete, pre_save

from accounts.models import Agent
from apikeys import counters, lookup
from apikeys.models import ApiKey

logger = logging.getLogger(__name__)

# Enough for every key a deployment serves; past it the copies are dropped and re-read.
MAX_RECORDS = 10_000
# Fields a request writes itself (debounced last use): no other process needs to know.
USE_FIELDS = frozenset({"last_used_at", "last_used_ip"})
# What a kept copy holds (lookup.FIELDS, the agent by its key): changing anything else
# (the encrypted copy, the Exposed flag, who created it…) tells no one.
KEPT_FIELDS = (
    frozenset(name for name in lookup.FIELDS if "__" not in name) | {"agent", "agent_id"}
) - USE_FIELDS


def tells(fields: Iterable[str] | None) -> bool:
    """Whether writing these fields (None: every field) changes what copies hold."""
    return fields is None or not KEPT_FIELDS.isdisjoint(fields)


@dataclass
class Record:
    found: ApiKey | None  # None: no key has this id
    generation: str

    def key(self) -> ApiKey | None:
        """A copy for one request, so nothing a request sets reaches another."""
        return None if self.found is None else lookup.copy_of(self.found)


_records: dict[str, Record] = {}


def enabled() -> bool:
    return isinstance(counters.store(), counters.RedisCounters)


def store() -> counters.RedisCounters:
    found = counters.store()
    assert isinstance(found, counters.RedisCounters)
    return found


def get(key_id: str) -> Record | None:
    return _records.get(key_id)


def load(key_id: str, generation: str) -> Record:
    """The key's row read now, kept under `generation`, which must have been read from
    Redis before this (so a change after it is seen as a new generation)."""
    record = Record(lookup.find(key_id), generation)
    if generation != counters.PENDING:
        if len(_records) >= MAX_RECORDS:
            _records.clear()
        _records[key_id] = record
    return record


def current_generation(key_id: str) -> str:
    """The key's generation in Redis (created when it has none), counting nothing."""
    generation, _ = store().add_if_current(key_id, "", [])
    return generation


def note_use(key: ApiKey) -> None:
    """A request stamped the key's last use: keep the stamp, so the next request within
    the interval does not try again."""
    record = _records.get(key.key_id)
    if record is not None and record.found is not None:
        record.found.last_used_at = key.last_used_at


def forget(key_id: str) -> None:
    _records.pop(key_id, None)


def clear() -> None:
    _records.clear()


def changed(key_ids: Iterable[str]) -> None:
    """These keys are being changed: mark them PENDING now (refusing the change when Redis
    cannot be told), and give them a new generation once the change commits."""
    if not enabled():
        return
    ids = [key_id for key_id in key_ids if key_id]
    if not ids:
        return
    store().mark_changed(ids)
    for key_id in ids:
        forget(key_id)
    transaction.on_commit(lambda: _renew(ids))


def _renew(key_ids: list[str]) -> None:
    try:
        store().renew(key_ids)
    except counters.CountersUnavailable:
        # The PENDING marks expire on their own (counters.PENDING_TTL); until then every
        # process reads these keys from the database, so nothing stale is served.
        logger.warning("Could not renew the generation of API keys %s", ", ".join(key_ids))


def _key_saving(sender: type, instance: ApiKey, update_fields: Any = None, **kwargs: Any) -> None:
    if tells(update_fields):
        changed([instance.key_id])


def _key_deleting(sender: type, instance: ApiKey, **kwargs: Any) -> None:
    changed([instance.key_id])


def _agent_saved(sender: type, instance: Agent, created: bool, **kwargs: Any) -> None:
    # The copies hold the agent's name and organization too. Only what keys/me shows
    # depends on them, so a rename is not refused when Redis is down: the copies then
    # show the old name until their generation expires (GENERATION_TTL).
    if not created and enabled():
        try:
            changed(ApiKey.objects.filter(agent=instance).values_list("key_id", flat=True))
        except counters.CountersUnavailable:
            logger.warning("Could not tell the web processes that agent %s changed", instance.pk)


def connect_signals() -> None:
    """Called once, from ApiKeysConfig.ready."""
    pre_save.connect(_key_saving, sender=ApiKey, dispatch_uid="apikeys.records.save")
    pre_delete.connect(_key_deleting, sender=ApiKey, dispatch_uid="apikeys.records.delete")
    post_save.connect(_agent_saved, sender=Agent, dispatch_uid="apikeys.records.agent")
