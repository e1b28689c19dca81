"""Where an API key is verified: the one path every /v1/open request takes.

1. The credential's shape and checksum: no I/O.
2. The key row by its public id: one query (apikeys/lookup.py) on every request; with
   Redis, the process's kept copy instead (apikeys/records.py), confirmed current by the
   round trip of step 5, which counts nothing when it is not (`check`). Either way a
   deleted, narrowed, re-allowlisted, expired or rotated key is refused by the very next
   request in every process.
3. The secret: HMAC-SHA256 under the server's hashing key, compared in constant time
   (apikeys/crypto.py). An unknown key id is checked against a dummy hash, so it costs what
   a wrong secret costs and gets the same 401.
4. Expiry, then the IP allowlist.
5. One round trip to the shared counters (apikeys/counters.py): the key's per-minute and
   per-hour windows, and the client address's failed attempts this minute. With a kept
   copy, `start` sends it as the request enters the middleware, and `check` (after the
   other middleware and URL resolution) reads the reply, which has usually arrived by then.

Failed attempts are budgeted per client address only (APIKEY_FAILURES_PER_CLIENT a minute).
Past the budget the address hears 429 for the rest of the minute, right secret or wrong,
so guessing on tells it nothing; other addresses are untouched, so nobody can lock out a
key they do not hold.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.http import HttpRequest

from a2v2.http import client_ip, client_ip_str
from apikeys import counters, crypto, exposure, keyformat, lookup, ratelimit, records
from apikeys.models import ApiKey

logger = logging.getLogger(__name__)

MISSING_CREDENTIALS = (
    "Missing API key. Send it in the x-api-key header "
    "(or the key id in x-api-key and the secret in x-api-secret)."
)
INVALID_KEY = "Invalid API key."
TOO_MANY_FAILURES = "Too many failed authentication attempts; try again in a minute."
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
    # For the key's usage counts (apikeys/usage.py): the key refused, when known, and why.
    key: ApiKey | None = None
    reason: str = ""


def key_in_url(request: HttpRequest) -> bool:
    """A key's usual parameter names in the query string, or a whole key under any other
    name (`?q=a2v2_…`): either way the URL has carried it through every log on its path."""
    query = request.META.get("QUERY_STRING")
    if not query:
        return False
    if QUERY_STRING_NAMES & {name.lower() for name in request.GET}:
        return True
    # The substring test keeps ordinary queries at one scan of the string.
    return f"{keyformat.PREFIX}_" in query and any(exposure.presented_in(request.GET))


def presented_key(request: HttpRequest) -> keyformat.PresentedKey:
    if key_in_url(request):
        raise Refusal(400, "API keys are not accepted in the URL; send the x-api-key header.")
    # request.META rather than request.headers: the latter copies every header first.
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    header_key = request.META.get("HTTP_X_API_KEY", "")
    header_secret = request.META.get("HTTP_X_API_SECRET", "")
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


def verify_secret(key: ApiKey | None, presented: keyformat.PresentedKey) -> bool:
    """Whether the presented secret is this key's (current, or previous within its grace)."""
    return matched_secret(key, presented) is not None


def matched_secret(key: ApiKey | None, presented: keyformat.PresentedKey) -> str | None:
    """Which of the key's secrets was presented: "current", "previous" (within its grace),
    or None.

    No key (an unknown id) is checked against a dummy hash: the same work, the same answer.
    A match on a hash of an older format is re-hashed under the current hashing key."""
    candidates = _candidate_hashes(key) if key is not None else [crypto.dummy_hash()]
    for stored in candidates:
        check = crypto.check_secret(stored, presented.key_id, presented.secret)
        if check.matches and key is not None:
            matched = "current" if stored is key.secret_hash else "previous"
            if check.outdated:
                key.upgrade_hash(stored, presented.secret)
            return matched
    return None


def client_of(request: HttpRequest) -> str:
    return client_ip_str(request) or "unknown"


def _cache_down() -> Refusal:
    return Refusal(
        503,
        "Rate limiting is unavailable (the cache is down); try again shortly.",
        {"Retry-After": "5"},
    )


def _too_many_failures(window: ratelimit.Window, now: float) -> Refusal:
    return Refusal(429, TOO_MANY_FAILURES, {"Retry-After": str(window.resets_in(now))})


def _failures(window: ratelimit.Window, client: str, now: float, amount: int) -> counters.Entry:
    """The client's failed-attempts bucket: `amount` 1 counts a failure, 0 only reads."""
    return (window.bucket(f"authfail:{client}", now), window.seconds, amount)


def count_failure(client: str) -> None:
    """Count a failed attempt from this client; a Refusal (429) once past its budget."""
    now, window = time.time(), ratelimit.failure_window()
    try:
        [failures] = counters.add([_failures(window, client, now, 1)])
    except counters.CountersUnavailable:
        if ratelimit.fail_open():
            return
        raise _cache_down() from None
    if failures > window.limit:
        raise _too_many_failures(window, now)


def _presented(request: HttpRequest, client: str) -> keyformat.PresentedKey:
    try:
        return presented_key(request)
    except Refusal as refusal:
        if refusal.status == 401:
            count_failure(client)
        if refusal.status == 400:  # a key in the URL: flag it for rotation if it is real
            exposure.report_key_in_url(request, client)
        raise


def _judge(
    request: HttpRequest, presented: keyformat.PresentedKey, key: ApiKey | None
) -> Refusal | None:
    """What this key (None: unknown id) says of the request, before anything is counted."""
    matched = matched_secret(key, presented)
    # Per request, not on the key (which a process keeps): calls with the old secret are
    # counted for the key's page (apikeys/usage.py).
    request.used_previous_secret = matched == "previous"  # type: ignore[attr-defined]
    if matched is None:
        return Refusal(401, INVALID_KEY, key=key, reason="secret")
    assert key is not None
    if key.is_expired:
        return Refusal(401, "This API key has expired.", key=key, reason="expired")
    if not key.allows_ip(client_ip(request)):
        message = "Requests from this IP address are not allowed for this API key."
        return Refusal(403, message, key=key, reason="ip")
    return None


def _refuse_secret(presented: keyformat.PresentedKey, client: str) -> None:
    logger.info("API key refused: key_id=%s client=%s", presented.key_id, client)


def authenticate(request: HttpRequest) -> ApiKey:
    """The key this request presents, or a Refusal saying why not."""
    client = client_of(request)
    presented = _presented(request, client)
    key = lookup.find(presented.key_id)
    refusal = _judge(request, presented, key)
    if refusal is not None:
        if refusal.message == INVALID_KEY:
            _refuse_secret(presented, client)
            count_failure(client)
        raise refusal
    assert key is not None
    return key


def _admission(key: ApiKey, client: str, now: float) -> list[counters.Entry]:
    """The key's per-minute and per-hour windows, counted, and the client's failures, read.
    Counted before the failure budget is known (one round trip): a call refused for its
    address's failures still counts against the key, like any refused call."""
    windows = ratelimit.key_windows(key.rate_limit_per_minute, key.rate_limit_per_hour)
    entries = [(w.bucket(f"key:{key.key_id}", now), w.seconds, 1) for w in windows]
    entries.append(_failures(ratelimit.failure_window(), client, now, 0))
    return entries


def _decision(key: ApiKey, counts: list[int], now: float) -> ratelimit.Decision:
    failure_window = ratelimit.failure_window()
    if counts[-1] >= failure_window.limit:
        raise _too_many_failures(failure_window, now)
    windows = ratelimit.key_windows(key.rate_limit_per_minute, key.rate_limit_per_hour)
    return ratelimit.decide(windows, counts[:-1], now)


def admit(key: ApiKey, client: str) -> ratelimit.Decision:
    """Count this request in the key's per-minute and per-hour windows and read the
    client's failed attempts, in one round trip. A Refusal (429) when the client is past
    its failure budget; (503) when the counters are unreachable and
    RATELIMIT_ON_CACHE_FAILURE is "closed" ("open": served uncounted)."""
    now = time.time()
    try:
        counts = counters.add(_admission(key, client, now))
    except counters.CountersUnavailable:
        if not ratelimit.fail_open():
            raise _cache_down() from None
        logger.warning("Rate-limit counters unreachable; serving key_id=%s uncounted", key.key_id)
        return ratelimit.Decision.uncounted()
    return _decision(key, counts, now)


@dataclass
class Started:
    """A kept key's admission, sent by `start` and read by `check` (or given back)."""

    key: ApiKey
    entries: list[counters.Entry]
    now: float
    reply: counters.InFlight


def start(request: HttpRequest) -> None:
    """Send this request's admission now when the process's copy of its key accepts it
    (the right secret, not expired, an allowed address), so the round trip overlaps the
    rest of the middleware and URL resolution; `check` reads the reply. Anything else (no
    key, a key not kept or changing, a refusal, Redis unreachable) starts nothing, and
    `check` takes its usual path."""
    meta = request.META
    if not (meta.get("HTTP_X_API_KEY") or meta.get("HTTP_AUTHORIZATION")) or not records.enabled():
        return
    try:
        presented = presented_key(request)
    except Refusal:
        return
    record = records.get(presented.key_id)
    if record is None or record.found is None or record.generation == counters.PENDING:
        return
    key = record.key()
    assert key is not None
    if _judge(request, presented, key) is not None:
        return
    now = time.time()
    entries = _admission(key, client_of(request), now)
    try:
        reply = records.store().start_add_if_current(key.key_id, record.generation, entries)
    except counters.CountersUnavailable:
        return
    request._started_admission = Started(key, entries, now, reply)  # type: ignore[attr-defined]


def _take_started(request: HttpRequest) -> Started | None:
    return request.__dict__.pop("_started_admission", None)


def give_back(request: HttpRequest) -> None:
    """An admission `start` sent that no `check` read (a keyless route, a response from an
    outer layer, an error): its counts are taken off again, so they stay exact."""
    started = _take_started(request)
    if started is None:
        return
    taken_back = [(bucket, ttl, -amount) for bucket, ttl, amount in started.entries if amount]
    try:
        _, counts = started.reply.result()
        if counts is not None:
            counters.add(taken_back)
    except counters.CountersUnavailable:
        logger.warning("Could not give back the counts of key_id=%s", started.key.key_id)


def _finish(
    request: HttpRequest, started: Started
) -> tuple[ApiKey, ratelimit.Decision] | records.Record:
    """The started admission's decision or, when the key changed since the copy (nothing
    was counted), its row read again, for the request to be judged afresh."""
    generation, counts = started.reply.result()
    if counts is None:
        records.forget(started.key.key_id)
        return records.load(started.key.key_id, generation)
    request.usage_key = started.key  # type: ignore[attr-defined]  # a refusal by the counters counts
    return started.key, _decision(started.key, counts, started.now)


def check(request: HttpRequest) -> tuple[ApiKey, ratelimit.Decision]:
    """`authenticate` then `admit`: the key and its rate-limit decision, or a Refusal.

    With Redis the key comes from this process's copy (apikeys/records.py), confirmed
    current by the round trip that counts (sent ahead by `start` when it could be); without
    it, or when Redis cannot be reached, from the database as `authenticate` reads it (the
    RATELIMIT_ON_CACHE_FAILURE policy then applies as before)."""
    client = client_of(request)
    started = _take_started(request)
    if records.enabled():
        try:
            record = None
            if started is not None:
                finished = _finish(request, started)
                if not isinstance(finished, records.Record):
                    return finished
                record = finished
            presented = _presented(request, client)
            if record is None:
                record = records.get(presented.key_id)
            return _check_with_copy(request, client, presented, record)
        except counters.CountersUnavailable:
            records.clear()  # nothing can be confirmed now
    key = authenticate(request)
    request.usage_key = key  # type: ignore[attr-defined]  # a refusal by the counters counts
    return key, admit(key, client)


def _check_with_copy(
    request: HttpRequest,
    client: str,
    presented: keyformat.PresentedKey,
    record: records.Record | None,
) -> tuple[ApiKey, ratelimit.Decision]:
    """Only a secret the kept copy accepts is served from it. Any other (a wrong secret, an
    unknown id, a key this process does not keep yet, a secret newer than the copy) is
    judged against the row read now, as without Redis, so a wrong secret costs the same
    whether or not its key id exists or is kept."""
    for _ in range(3):
        key = record.key() if record is not None else None
        refusal = _judge(request, presented, key) if key is not None else None
        if key is None or (refusal is not None and refusal.message == INVALID_KEY):
            found = lookup.find(presented.key_id)
            refusal = _judge(request, presented, found)
            if refusal is not None and refusal.message == INVALID_KEY:
                _refuse_secret(presented, client)
                count_failure(client)
                raise refusal
            # The right secret for a key not kept (or kept stale): keep it, read again
            # after its generation, so any change from here on is seen; while the key is
            # changing (PENDING) nothing is kept and the row just read serves.
            generation = records.current_generation(presented.key_id)
            if generation == counters.PENDING:
                record = records.Record(found, generation)
            else:
                record = records.load(presented.key_id, generation)
            continue
        assert key is not None
        now = time.time()
        entries = [] if refusal is not None else _admission(key, client, now)
        if record.generation == counters.PENDING:  # the key is changing: read, not kept
            counts: list[int] | None = counters.add(entries)
        else:
            generation, counts = records.store().add_if_current(
                presented.key_id, record.generation, entries
            )
            if counts is None:  # the key changed since this copy: read it again
                records.forget(presented.key_id)
                record = records.load(presented.key_id, generation)
                continue
        if refusal is not None:  # expired, or another address: confirmed by the copy
            raise refusal
        request.usage_key = key  # type: ignore[attr-defined]  # a refusal by the counters counts
        return key, _decision(key, counts, now)
    raise counters.CountersUnavailable("the key kept changing")
