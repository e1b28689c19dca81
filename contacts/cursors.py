"""Cursors for the contacts list: opaque to clients, signed, and bound to their query.

A cursor names where the next page starts: the sort value and id of the last contact
served, so the database enters the index right there (keyset pagination) and page 5,000
costs what page 1 does. It also carries how many contacts came before the page it opens,
so `pagination.page` stays true, and a digest of the query it belongs to (the agent, the
filters and the sort), so a cursor sent with other filters is refused instead of silently
returning rows of another list. Signed with Django's signing (SECRET_KEY): a damaged or
invented cursor is refused with 400; the agent's filter applies whatever a cursor says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.core import signing

SALT = "a2v2.contacts.cursor"
VERSION = 1


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    key_value: Any  # the sort value of the last contact served
    pk: int  # and its id
    position: int  # contacts before the page this cursor opens


def query_digest(**query: Any) -> str:
    """Names a query (agent, filters, sort) without revealing it."""
    text = json.dumps(query, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    return {"dt": value.isoformat()} if isinstance(value, dt.datetime) else value


def _typed(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"dt"}:
        return dt.datetime.fromisoformat(value["dt"])
    if type(value) in (str, int):
        return value
    raise InvalidCursor("The cursor is not valid.")


def encode(cursor: Cursor, query: str) -> str:
    payload = {
        "v": VERSION,
        "q": query,
        "k": _plain(cursor.key_value),
        "i": cursor.pk,
        "p": cursor.position,
    }
    return signing.dumps(payload, salt=SALT)


def decode(token: str, query: str) -> Cursor:
    """The cursor in `token`, if it is ours, intact and made for `query`."""
    try:
        payload = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise InvalidCursor("The cursor is not valid.") from None
    if not isinstance(payload, dict) or payload.get("v") != VERSION:
        raise InvalidCursor("The cursor is not valid.")
    if payload.get("q") != query:
        raise InvalidCursor(
            "This cursor belongs to another query: send the same filters and sort as the "
            "request that returned it."
        )
    pk, position = payload.get("i"), payload.get("p")
    if type(pk) is not int or type(position) is not int or position < 0:
        raise InvalidCursor("The cursor is not valid.")
    return Cursor(_typed(payload.get("k")), pk, position)
