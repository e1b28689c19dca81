"""Counters shared by every process (rate limits, failure budgets): exact under concurrency,
and every bucket a request touches in one round trip.

`add([(bucket, ttl, amount), …])` adds `amount` to each bucket (0 just reads it) and returns
the new counts. The store follows the deployment:

- Redis (CACHE_URL=redis://…): one Lua script (EVALSHA) that INCRBYs each bucket, sets
  its TTL when it creates it, or reads it for an amount of 0.
- SQLite (the embedded default): a WAL database file of its own (RATELIMIT_SQLITE_PATH,
  default `ratelimit.sqlite3` beside the main database, created on first use), so counting
  never queues behind the main database's single writer (last-used stamps, contacts, the
  task queue). One `INSERT … ON CONFLICT DO UPDATE … RETURNING` per request.
- Otherwise (PostgreSQL without Redis): the same upsert into `apikeys_ratecounter`.

A cache's get-then-set `incr` is not atomic, so it is not used. When Redis cannot be
reached, `add` raises `CountersUnavailable`; RATELIMIT_ON_CACHE_FAILURE decides what the
caller does (docs/deploy.md, "When Redis is down").
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import random
import secrets
import socket
import sqlite3
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import hiredis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import default_key_func
from django.core.signals import setting_changed
from django.db import connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

# (bucket, seconds it must live, amount to add)
Entry = tuple[str, int, int]

# A key's generation (Redis only, apikeys/records.py): a random token replaced on every
# change to the key. PENDING marks a change not yet committed: no process keeps the key
# then. A generation that is missing (expired, a flushed Redis) is created afresh, so a
# process's copy never matches it.
PENDING = "pending"
GENERATION_TTL = 600
PENDING_TTL = 300


# Connections and files are this process's own: a forked child opens its own (counted here,
# so that checking costs no system call per request, as os.getpid() would).
_forks = 0


def _after_fork() -> None:
    global _forks, _generation_prefix
    _forks += 1
    _generation_prefix = secrets.token_hex(6)


os.register_at_fork(after_in_child=_after_fork)

# A generation only has to differ from every other one, not be unguessable: a random prefix
# per process and a counter give that without reading the kernel's random source on every
# request, as secrets.token_hex would (next() on an itertools.count is safe across threads).
_generation_prefix = secrets.token_hex(6)
_generation_numbers = itertools.count()


def _new_generation() -> str:
    return f"{_generation_prefix}{next(_generation_numbers):x}"


class CountersUnavailable(Exception):
    """The shared counters (Redis) could not be reached."""


class Counters(Protocol):
    def add(self, entries: Sequence[Entry]) -> list[int]: ...

    def prune(self, *, dry_run: bool = False) -> int:
        """Delete (or only count) the buckets of windows that have ended."""
        ...

    def clear(self) -> None: ...


def _sweep_now_and_then(counts: list[int], entries: Sequence[Entry]) -> bool:
    # A new window began somewhere (a count equal to what was just added): now and then,
    # sweep windows that have ended.
    started = any(count == amount for count, (_, _, amount) in zip(counts, entries, strict=True))
    return started and random.random() < 0.02


# Every bucket of a request in one command: INCRBY (with the TTL set when the bucket is
# created) or, for an amount of 0, a plain read (a negative amount gives counts back).
# Atomic, one reply to parse.
_REDIS_ADD = """
local counts = {}
for i, key in ipairs(KEYS) do
  local ttl, amount = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  if amount ~= 0 then
    counts[i] = redis.call("INCRBY", key, amount)
    if counts[i] == amount then redis.call("EXPIRE", key, ttl) end
  else
    counts[i] = tonumber(redis.call("GET", key) or "0")
  end
end
return counts
"""


# The same, first checking the key's generation (KEYS[1]) against the one the process
# holds (ARGV[1]): counted only when it is current; the current generation is returned
# first either way (set to ARGV[2] for ARGV[3] seconds when there is none).
_REDIS_ADD_IF_CURRENT = """
local current = redis.call("GET", KEYS[1])
if not current then
  current = ARGV[2]
  redis.call("SET", KEYS[1], current, "EX", tonumber(ARGV[3]))
end
if current ~= ARGV[1] then return {current} end
local reply = {current}
for i = 2, #KEYS do
  local ttl, amount = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  if amount ~= 0 then
    reply[i] = redis.call("INCRBY", KEYS[i], amount)
    if reply[i] == amount then redis.call("EXPIRE", KEYS[i], ttl) end
  else
    reply[i] = tonumber(redis.call("GET", KEYS[i]) or "0")
  end
end
return reply
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


_OWED = object()  # a reply not read yet


class InFlight:
    """A command written to Redis whose reply is read later (`result`): the caller works
    meanwhile, so the reply is usually waiting by the time it is wanted."""

    def __init__(self, line: _Line, command: bytes, finish: Callable[[Any], Any]) -> None:
        self.line = line
        self.command = command
        self.finish = finish
        self.answer: Any = _OWED
        self.resent = False

    def result(self) -> Any:
        """The reply, through `finish`; CountersUnavailable when Redis could not answer."""
        while self.answer is _OWED:
            self.line.read_oldest()
        answer = self.answer
        noscript = isinstance(answer, ResponseError) and str(answer).startswith("NOSCRIPT")
        if noscript and not self.resent:
            # A restarted or flushed Redis: load the scripts, then send the command again.
            self.line.load_scripts()
            self.answer, self.resent = _OWED, True
            self.line.send(self.command, self)
            return self.result()
        if isinstance(answer, RedisError):
            raise CountersUnavailable(str(answer)) from answer
        return self.finish(answer)


class _Line:
    """One thread's connection to Redis, spoken to directly: commands written with one
    `sendall`, replies parsed by hiredis in the order they are owed. redis-py's connection
    only connects (authentication, database, TLS); its pool, retry and parser layers cost
    as much CPU as the round trip itself on the Open API's path."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.owed: deque[InFlight] = deque()

    def send(self, command: bytes, in_flight: InFlight) -> None:
        try:
            if self.connection._sock is None:  # new, or dropped after an error
                self.connection.connect()
                _timeouts_in_the_kernel(self.connection._sock)
            self.connection._sock.sendall(command)
        except (OSError, RedisError) as error:
            self.drop(error)
            raise CountersUnavailable(str(error)) from error
        self.owed.append(in_flight)

    def read_oldest(self) -> None:
        """Read one reply: the oldest owed. When the connection fails, every owed reply
        gets the error instead, and the connection is dropped (the next send reconnects)."""
        try:
            while (reply := self.reader.gets()) is False:
                data = self.connection._sock.recv(65536)
                if not data:
                    raise RedisConnectionError("Redis closed the connection.")
                self.reader.feed(data)
        except (OSError, RedisError, hiredis.ProtocolError) as error:
            self.drop(RedisConnectionError(f"Redis could not be read: {error}"))
            return
        self.owed.popleft().answer = reply

    def drop(self, error: Exception) -> None:
        self.connection.disconnect()
        self.reader = hiredis.Reader(replyError=ResponseError)
        while self.owed:
            self.owed.popleft().answer = error

    def load_scripts(self) -> None:
        for script in (_REDIS_ADD, _REDIS_ADD_IF_CURRENT):
            loaded = InFlight(self, hiredis.pack_command(("SCRIPT", "LOAD", script)), _text)
            self.send(loaded.command, loaded)
            loaded.result()


class RedisCounters:
    """Counters in Redis, over a connection of this process's own per thread (`_Line`):
    one EVALSHA written and one reply read. `start_add_if_current` writes it and lets the
    caller read the reply later."""

    def __init__(self, alias: str = "default") -> None:
        self.cache = caches[alias]
        self.client = self.cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        self.scripts = {
            script: hashlib.sha1(script.encode()).hexdigest()
            for script in (_REDIS_ADD, _REDIS_ADD_IF_CURRENT)
        }
        self._local = threading.local()

    def _line(self) -> _Line:
        held = getattr(self._local, "held", None)
        if held is None or held[0] != _forks:
            pool = self.client.connection_pool
            line = _Line(pool.connection_class(**pool.connection_kwargs))
            held = self._local.held = (_forks, line)
        return held[1]

    @functools.cached_property
    def _key_prefix(self) -> str | None:
        """What the cache's key function puts before each of our keys, when it only
        prefixes (Django's default): then keys are made by concatenation, four per request."""
        made = self.cache.make_key("rl:")
        return (
            made[:-3] if made.endswith("rl:") and self.cache.key_func is default_key_func else None
        )

    def _made(self, key: str) -> str:
        # make_key, not make_and_validate_key: the latter scans every character (memcached
        # rules), and these keys are ours, plain ASCII.
        prefix = self._key_prefix
        return prefix + key if prefix is not None else self.cache.make_key(key)

    def _bucket_keys(self, entries: Sequence[Entry]) -> list[str]:
        return [self._made(f"rl:{bucket}") for bucket, _, _ in entries]

    def _generation_key(self, key_id: str) -> str:
        return self._made(f"rl:gen:{key_id}")

    def _send(self, script: str, keys: list[str], args: list[Any], finish: Callable) -> InFlight:
        # Packed by hiredis in one C call: redis-py's send_command re-checks and converts
        # every argument in Python first.
        command = hiredis.pack_command(("EVALSHA", self.scripts[script], len(keys), *keys, *args))
        line = self._line()
        in_flight = InFlight(line, command, finish)
        line.send(command, in_flight)
        return in_flight

    @staticmethod
    def _answered(send: Callable[[], InFlight]) -> Any:
        """Send and read; a dropped connection (a restarted Redis, an idle connection the
        network closed) is tried once more."""
        try:
            return send().result()
        except CountersUnavailable:
            return send().result()

    def add(self, entries: Sequence[Entry]) -> list[int]:
        args = [value for _, ttl, amount in entries for value in (ttl, amount)]
        keys = self._bucket_keys(entries)
        return self._answered(lambda: self._send(_REDIS_ADD, keys, args, _counts))

    def start_add_if_current(
        self, key_id: str, generation: str, entries: Sequence[Entry]
    ) -> InFlight:
        """`add_if_current`, written now; its `result()` is what add_if_current returns."""
        keys = [self._generation_key(key_id), *self._bucket_keys(entries)]
        args = [generation, _new_generation(), GENERATION_TTL]
        args += [value for _, ttl, amount in entries for value in (ttl, amount)]

        def finish(reply: list[Any]) -> tuple[str, list[int] | None]:
            current = _text(reply[0])
            if current != generation:
                return current, None
            return current, _counts(reply[1:])

        return self._send(_REDIS_ADD_IF_CURRENT, keys, args, finish)

    def add_if_current(
        self, key_id: str, generation: str, entries: Sequence[Entry]
    ) -> tuple[str, list[int] | None]:
        """The key's current generation, and the new counts when `generation` is it (None,
        nothing counted, when not)."""
        return self._answered(lambda: self.start_add_if_current(key_id, generation, entries))

    def mark_changed(self, key_ids: Sequence[str]) -> None:
        """These keys are changing: no process may keep them until `renew`."""
        self._set_generations(key_ids, lambda: PENDING, PENDING_TTL)

    def renew(self, key_ids: Sequence[str]) -> None:
        """These keys changed (committed): every process's copy is out of date."""
        self._set_generations(key_ids, lambda: secrets.token_hex(8), GENERATION_TTL)

    def renew_all(self) -> None:
        """Every key changed (a restored database): no process's copy is current."""
        try:
            pattern = self.cache.make_and_validate_key("rl:gen:*")
            for found in self.client.scan_iter(match=pattern, count=1000):
                self.client.delete(found)
        except RedisError as error:
            raise CountersUnavailable(str(error)) from error

    def _set_generations(self, key_ids: Sequence[str], value: Any, ttl: int) -> None:
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for key_id in key_ids:
                    pipe.set(self._generation_key(key_id), value(), ex=ttl)
                pipe.execute()
        except RedisError as error:
            raise CountersUnavailable(str(error)) from error

    def prune(self, *, dry_run: bool = False) -> int:
        return 0  # Redis expires the keys itself

    def clear(self) -> None:
        keys = self.client.keys(self.cache.make_and_validate_key("rl:*"))
        if keys:
            self.client.delete(*keys)


def _counts(reply: list[Any]) -> list[int]:
    return [int(count) for count in reply]


def _timeouts_in_the_kernel(sock: socket.socket) -> None:
    """Python polls a socket that has a timeout before every send and every receive: two
    more system calls a round trip. The kernel's own send and receive timeouts bound a
    blocking socket the same way (a receive past it fails, and redis-py reports the
    connection lost). TLS sockets keep Python's timeout."""
    timeout = sock.gettimeout()
    if type(sock) is not socket.socket or not timeout:
        return
    seconds, micro = divmod(int(timeout * 1_000_000), 1_000_000)
    packed = struct.pack("ll", seconds, micro)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, packed)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, packed)
    sock.settimeout(None)


_SQLITE_SETUP = threading.Lock()  # one thread of a process sets the file up at a time


def _set_up(db: sqlite3.Connection, schema: str) -> None:
    """WAL mode and the table. Switching the journal mode takes the file's lock without
    waiting for it (no busy timeout), so a process racing another's first use tries again."""
    for attempt in range(50):
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a lost count on power loss harms nothing
            db.execute(schema)
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == 49:
                raise
            time.sleep(0.02 * (attempt + 1))


class SqliteFileCounters:
    """Counters in their own SQLite file. WAL lets readers run beside the one writer, and
    a single upsert statement is atomic, so counts stay exact across processes."""

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS counters "
        "(bucket TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL) "
        "WITHOUT ROWID"
    )

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        # One connection per process and thread (a forked worker opens its own).
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == _forks:
            return held[1]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=20, isolation_level=None, check_same_thread=False)
        with _SQLITE_SETUP:
            _set_up(db, self.SCHEMA)
        self._local.held = (_forks, db)
        return db

    def add(self, entries: Sequence[Entry]) -> list[int]:
        now = time.time()
        rows = ", ".join(["(?, ?, ?)"] * len(entries))
        params: list[object] = []
        for bucket, ttl, amount in entries:
            params += [bucket, amount, now + ttl]
        db = self._connection()
        found = dict(
            db.execute(
                f"INSERT INTO counters (bucket, count, expires_at) VALUES {rows} "
                "ON CONFLICT (bucket) DO UPDATE SET count = count + excluded.count "
                "RETURNING bucket, count",
                params,
            ).fetchall()
        )
        counts = [int(found[bucket]) for bucket, _, _ in entries]
        if _sweep_now_and_then(counts, entries):
            self.prune()
        return counts

    def prune(self, *, dry_run: bool = False) -> int:
        db, now = self._connection(), time.time()
        if dry_run:
            return db.execute(
                "SELECT COUNT(*) FROM counters WHERE expires_at < ?", [now]
            ).fetchone()[0]
        return db.execute("DELETE FROM counters WHERE expires_at < ?", [now]).rowcount

    def clear(self) -> None:
        self._connection().execute("DELETE FROM counters")


class DatabaseCounters:
    """Counters in the main database's `apikeys_ratecounter` (PostgreSQL without Redis)."""

    def add(self, entries: Sequence[Entry]) -> list[int]:
        from apikeys.models import RateCounter

        table = RateCounter._meta.db_table
        now = time.time()
        rows = ", ".join(["(%s, %s, %s)"] * len(entries))
        params: list[object] = []
        for bucket, ttl, amount in entries:
            params += [bucket, amount, datetime.fromtimestamp(now + ttl, tz=UTC)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (bucket, count, expires_at) VALUES {rows} "
                f"ON CONFLICT (bucket) DO UPDATE SET count = {table}.count + EXCLUDED.count "
                f"RETURNING bucket, count",
                params,
            )
            found = dict(cursor.fetchall())
        counts = [int(found[bucket]) for bucket, _, _ in entries]
        if _sweep_now_and_then(counts, entries):
            self.prune()
        return counts

    def prune(self, *, dry_run: bool = False) -> int:
        from apikeys.models import RateCounter

        ended = RateCounter.objects.filter(expires_at__lt=datetime.now(tz=UTC))
        return ended.count() if dry_run else ended.delete()[0]

    def clear(self) -> None:
        from apikeys.models import RateCounter

        RateCounter.objects.all().delete()


def sqlite_path() -> Path:
    if settings.RATELIMIT_SQLITE_PATH:
        return Path(settings.RATELIMIT_SQLITE_PATH)
    return Path(settings.DATABASES["default"]["NAME"]).with_name("ratelimit.sqlite3")


@functools.cache
def store() -> Counters:
    """The counters this deployment shares (see the module docstring)."""
    if "redis" in settings.CACHES["default"]["BACKEND"].lower():
        return RedisCounters()
    if connection.vendor == "sqlite":
        return SqliteFileCounters(sqlite_path())
    return DatabaseCounters()


def add(entries: Sequence[Entry]) -> list[int]:
    return store().add(entries)


def _forget_store(*, setting: str, **kwargs: object) -> None:
    if setting in ("CACHES", "DATABASES", "RATELIMIT_SQLITE_PATH"):
        store.cache_clear()


setting_changed.connect(_forget_store)
