"""Where an API key is verified: the one path every /v1/open request takes.

Order matters for cost. Cheap rejects come first (shape and checksum: no I/O; unknown key
id: one indexed query). The argon2id check (~150 ms) runs only when no memo says "this
secret matched this stored hash", and only within a per-key-id and per-client budget, so
a flood of wrong secrets cannot starve the CPU. The key row itself is read from the
database on every request, so a deleted key, a removed permission, a changed allowlist
or a passed expiry refuses the very next request in every process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from redis.exceptions import RedisError

from a2v2.http import client_ip
from apikeys import crypto, exposure, keyformat, ratelimit
from apikeys.models import ApiKey

logger = logging.getLogger(__name__)

MISSING_CREDENTIALS = (
    "Missing API key. Send it in the x-api-key header "
    "(or the key id in x-api-key and the secret in x-api-secret)."
)
INVALID_KEY = "Invalid API key."
QUERY_STRING_NAMES = {
    "api_key",
    "apikey",
    "key",
    "x-api-key",
    "x_api_key",
    "api_secret",
    "x-api-secret",
    "secret",
    "token",
    "access_token",
}


@dataclass
class Refusal(Exception):
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


class _LocalMemo:
    """This process's own memo of verified secrets, bounded in size and age."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size, self.ttl = size, ttl
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, token: str) -> bool:
        with self._lock:
            stamp = self._entries.get(token)
            if stamp is None or time.monotonic() - stamp > self.ttl:
                self._entries.pop(token, None)
                return False
            self._entries.move_to_end(token)
            return True

    def add(self, token: str) -> None:
        with self._lock:
            self._entries[token] = time.monotonic()
            self._entries.move_to_end(token)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


local_memo = _LocalMemo(size=10_000, ttl=600)
_hash_slots = threading.BoundedSemaphore(1)


def presented_key(request: HttpRequest) -> keyformat.PresentedKey:
    if QUERY_STRING_NAMES & {name.lower() for name in request.GET}:
        raise Refusal(400, "API keys are not accepted in the URL; send the x-api-key header.")
    authorization = request.headers.get("Authorization", "")
    header_key = request.headers.get("X-API-Key", "")
    header_secret = request.headers.get("X-API-Secret", "")
    try:
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Refusal(401, "Use 'Authorization: Bearer <API key>'.")
            return keyformat.parse_full_key(value)
        if header_key and header_secret:
            return keyformat.parse_key_id_and_secret(header_key, header_secret)
        if header_key:
            return keyformat.parse_full_key(header_key)
    except keyformat.MalformedKey as error:
        raise Refusal(401, str(error)) from None
    raise Refusal(401, MISSING_CREDENTIALS)


def _candidate_hashes(key: ApiKey) -> list[str]:
    hashes = [key.secret_hash]
    if key.previous_secret_valid():
        hashes.append(key.previous_secret_hash)
    return hashes


def _memoized(token: str) -> bool:
    if token in local_memo:
        return True
    try:
        shared = cache.get(f"akv:{token}")
    except RedisError:
        # The shared memo is an optimisation: without it the budgets below decide.
        logger.warning("Verified-secret memo unreachable; treating as a miss")
        return False
    if shared:
        local_memo.add(token)
        return True
    return False


def _remember(token: str) -> None:
    local_memo.add(token)
    try:
        cache.set(f"akv:{token}", 1, timeout=settings.APIKEY_VERIFIED_TTL)
    except RedisError:
        logger.warning("Verified-secret memo unreachable; kept in this process only")


def _cache_down() -> Refusal:
    return Refusal(
        503,
        "Rate limiting is unavailable (the cache is down); try again shortly.",
        {"Retry-After": "5"},
    )


def _first_exhausted(budgets: list[tuple[str, ratelimit.Window]]) -> ratelimit.Window | None:
    try:
        return ratelimit.first_exhausted(budgets)
    except ratelimit.CountersUnavailable:
        if ratelimit.fail_open():
            return None
        raise _cache_down() from None


def _count(budgets: list[tuple[str, ratelimit.Window]]) -> None:
    try:
        ratelimit.count(budgets)
    except ratelimit.CountersUnavailable:
        if not ratelimit.fail_open():
            raise _cache_down() from None


def _failure_budgets(key_id: str, client: str) -> list[tuple[str, ratelimit.Window]]:
    """Failed attempts allowed per minute: per client across all keys (random keys), and
    for slow checks per key id and client (so one attacker cannot lock a key out for
    everyone), per client, and per key id from all clients (a distributed flood)."""

    def per_minute(limit: int) -> ratelimit.Window:
        return ratelimit.Window("minute", 60, limit)

    return [
        (f"authfail:ip:{client}", per_minute(settings.APIKEY_FAILURES_PER_CLIENT)),
        (f"hash:{key_id}:{client}", per_minute(settings.APIKEY_HASH_FAILURES_PER_KEY_AND_CLIENT)),
        (f"hash:ip:{client}", per_minute(settings.APIKEY_HASH_FAILURES_PER_CLIENT)),
        (f"hash:{key_id}", per_minute(settings.APIKEY_HASH_FAILURES_PER_KEY)),
    ]


def _slow_check(key: ApiKey, secret: str, hashes: list[str], tokens: list[str]) -> bool:
    # One slow hash at a time per process: others wait briefly, then are told to retry.
    if not _hash_slots.acquire(timeout=settings.APIKEY_HASH_WAIT_SECONDS):
        raise Refusal(503, "Busy verifying API keys; retry shortly.", {"Retry-After": "1"})
    try:
        for stored, token in zip(hashes, tokens, strict=True):
            if crypto.verify_secret(stored, secret):
                _remember(token)
                return True
    finally:
        _hash_slots.release()
    return False


def secret_matches(key: ApiKey | None, presented: keyformat.PresentedKey, client: str) -> bool:
    """Whether the presented secret is this key's (current, or previous within its grace).

    A memo hit answers at once. Otherwise the caller's failure budgets are checked before
    any slow hash, and a failure is counted against them."""
    hashes = _candidate_hashes(key) if key else []
    tokens = [crypto.memo_token(presented.key_id, presented.secret, h) for h in hashes]
    if any(_memoized(t) for t in tokens):
        return True
    budgets = _failure_budgets(presented.key_id, client)
    if key is None:
        budgets = budgets[:1]  # no slow check happens for an unknown key id
    exhausted = _first_exhausted(budgets)
    if exhausted is not None:
        raise Refusal(
            429,
            "Too many failed authentication attempts; try again in a minute.",
            {"Retry-After": str(exhausted.resets_in(time.time()))},
        )
    if key is not None and _slow_check(key, presented.secret, hashes, tokens):
        return True
    _count(budgets)
    logger.info("API key refused: key_id=%s client=%s", presented.key_id, client)
    return False


def _count_client_failure(client: str) -> None:
    """A malformed or missing credential: counted, and refused outright past the budget."""
    budget = _failure_budgets("-", client)[:1]
    exhausted = _first_exhausted(budget)
    if exhausted is not None:
        raise Refusal(
            429,
            "Too many failed authentication attempts; try again in a minute.",
            {"Retry-After": str(exhausted.resets_in(time.time()))},
        )
    _count(budget)


def authenticate(request: HttpRequest) -> ApiKey:
    """The key this request presents, or a Refusal saying why not."""
    address = client_ip(request)
    client = str(address) if address else "unknown"
    try:
        presented = presented_key(request)
    except Refusal as refusal:
        if refusal.status == 401:
            _count_client_failure(client)
        if refusal.status == 400:  # a key in the URL: flag it for rotation if it is real
            exposure.report_key_in_url(request, client)
        raise
    key = ApiKey.objects.find(presented.key_id)
    if not secret_matches(key, presented, client):
        raise Refusal(401, INVALID_KEY)
    assert key is not None
    if key.is_expired:
        raise Refusal(401, "This API key has expired.")
    if not key.allows_ip(address):
        raise Refusal(403, "Requests from this IP address are not allowed for this API key.")
    return key


def rate_limit(key: ApiKey) -> ratelimit.Decision:
    """The key's per-minute and per-hour limits; a Refusal (503) when the shared counters
    are unreachable and RATELIMIT_ON_CACHE_FAILURE is "closed", uncounted when "open"."""
    try:
        return ratelimit.hit(
            f"key:{key.key_id}",
            [
                ratelimit.Window("minute", 60, key.rate_limit_per_minute),
                ratelimit.Window("hour", 3600, key.rate_limit_per_hour),
            ],
        )
    except ratelimit.CountersUnavailable:
        if not ratelimit.fail_open():
            raise _cache_down() from None
        logger.warning("Rate-limit counters unreachable; serving key_id=%s uncounted", key.key_id)
        return ratelimit.Decision.uncounted()
