"""What each middleware costs a /v1/open request, measured in process (no network, no wrk).

Builds Django's WSGI handler from settings.MIDDLEWARE and times every layer of every
request: how long each middleware's own work took (its time minus the time of the layers
inside it), each process_view hook (the key check is ApiKeyMiddleware's), and the view.
Reported is the median over --requests requests, so a busy machine's interruptions, which
hit few requests, do not move it. Requests, on a temporary SQLite database:

  ping   GET /v1/open/bench/ping     a trivial view, no key (bench/urls.py)
  keyed  GET /v1/open/keys/me        with a key (round-robin over --keys keys)
  ui     GET /login/                 the admin UI's login page, for comparison

and, at the end, a refused request: a wrong secret on an existing key id against an
unknown key id (the median time of each, through the whole stack). Usage:

  .venv/bin/python bench/middleware_cost.py [--requests 3000] [--postgres-redis]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def environ_for(path: str, headers: dict[str, str]) -> dict[str, object]:
    environ: dict[str, object] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


class Instrumented:
    """A WSGI handler whose middleware layers record how long each request spent in them."""

    def __init__(self) -> None:
        from django.core.handlers.wsgi import WSGIHandler

        self.handler = WSGIHandler()
        self.names: list[str] = []
        self.spans: list[int] = []  # this request: inclusive ns per layer, outermost first
        self.hooks: dict[str, int] = {}  # this request: ns per process_view hook
        layer = self.handler._middleware_chain
        self.handler._middleware_chain = self._timer(layer, 0)
        while hasattr(layer, "__wrapped__") and hasattr(layer.__wrapped__, "get_response"):
            middleware = layer.__wrapped__
            self.names.append(type(middleware).__name__)
            timed_next = self._timer(middleware.get_response, len(self.names))
            middleware.get_response = timed_next
            if hasattr(middleware, "inner"):  # a2v2.ui_middleware's wrappers
                middleware.inner.get_response = timed_next
            layer = layer.__wrapped__.get_response.__wrapped__
        self.handler._view_middleware = [
            self._hook(method) for method in self.handler._view_middleware
        ]

    def _timer(self, call: Callable[..., Any], depth: int) -> Callable[..., Any]:
        def timed(request: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return call(request)
            finally:
                self.spans[depth] = time.perf_counter_ns() - started

        timed.__wrapped__ = call  # type: ignore[attr-defined]
        return timed

    def _hook(self, method: Callable[..., Any]) -> Callable[..., Any]:
        owner = method.__qualname__  # e.g. ApiKeyMiddleware.process_view

        def timed(*args: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return method(*args)
            finally:
                self.hooks[owner] = time.perf_counter_ns() - started

        return timed

    def serve(self, environ: dict[str, object]) -> tuple[str, dict[str, int]]:
        """One request; its status and the ns spent in each part."""
        self.spans = [0] * (len(self.names) + 1)
        self.hooks = {}
        statuses: list[str] = []
        started = time.perf_counter_ns()
        body = self.handler(environ, lambda status, headers, exc=None: statuses.append(status))
        for _ in body:
            pass
        body.close()
        total = time.perf_counter_ns() - started
        own: dict[str, int] = {"(whole request)": total}
        # The handler's own work: WSGIRequest, signals, writing the response.
        own["WSGIHandler: request/response objects"] = total - self.spans[0]
        for depth, name in enumerate(self.names):
            own[name] = self.spans[depth] - self.spans[depth + 1]
        own.update({f"  {hook}": spent for hook, spent in self.hooks.items()})
        own["URL resolving and the view"] = self.spans[-1] - sum(self.hooks.values())
        return statuses[0].split()[0], own

    def measure(self, make: Callable[[int], dict[str, object]], count: int) -> dict[str, float]:
        for i in range(50):  # warm up
            self.serve(make(i))
        samples: dict[str, list[int]] = {}
        for i in range(count):
            status, own = self.serve(make(i))
            if status.startswith("5"):
                raise SystemExit(f"the request answered {status}")
            for part, spent in own.items():
                samples.setdefault(part, []).append(spent)
        return {part: statistics.median(values) / 1000 for part, values in samples.items()}


def setup(args: argparse.Namespace) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="a2v2-mwcost-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "false",
            "SECRET_KEY": "bench-secret-key-" + "x" * 40,
            "KEY_ENCRYPTION_KEYS": "bench-kek",
            "APIKEY_HASH_KEYS": "bench-apikey-hash-key-" + "y" * 32,
            "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
            "CACHE_URL": "dbcache://a2v2_cache",
            "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
            "LOG_LEVEL": "ERROR",
            "ALLOWED_HOSTS": "localhost",
            # The refusal lines send thousands of wrong keys from one address.
            "APIKEY_FAILURES_PER_CLIENT": "100000000",
        }
    )
    if args.postgres_redis:
        sys.path.insert(0, str(ROOT))
        from bench.stack import recreate_database

        os.environ["DATABASE_URL"] = recreate_database(args.database, drop=True)
        os.environ["CACHE_URL"] = "redis://127.0.0.1:6379/14"
    import warnings

    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Agent, Organization, User
    from apikeys.models import ApiKey

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    owner = User.objects.create_user("bench@example.com", "x")
    agent = Agent.objects.create(
        organization=Organization.create_with_owner("Bench", owner), name="Bench"
    )
    return [
        ApiKey.issue(
            agent,
            name=f"bench {n}",
            contacts_read=True,
            rate_limit_per_minute=1000,
            rate_limit_per_hour=10000,
        )[1]
        for n in range(args.keys)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument(
        "--postgres-redis",
        action="store_true",
        help="PostgreSQL (database a2v2_bench, recreated) and Redis (database 14)",
    )
    parser.add_argument("--database", default="a2v2_bench", help="with --postgres-redis")
    args = parser.parse_args()
    keys = setup(args)
    logging.disable(logging.CRITICAL)
    from apikeys import keyformat

    key_ids = [keyformat.parse_full_key(key).key_id for key in keys]
    wrong = [keyformat.compose(key_ids[i % len(keys)], keyformat.new_secret()) for i in range(4000)]
    unknown = [
        keyformat.compose(keyformat.new_key_id(), keyformat.new_secret()) for _ in range(4000)
    ]
    requests: dict[str, Callable[[int], dict[str, object]]] = {
        "ping": lambda i: environ_for("/v1/open/bench/ping", {}),
        "keyed": lambda i: environ_for("/v1/open/keys/me", {"X-API-Key": keys[i % len(keys)]}),
        "ui": lambda i: environ_for("/login/", {}),
    }
    handler = Instrumented()
    results = {label: handler.measure(make, args.requests) for label, make in requests.items()}
    refusals = {
        label: handler.measure(
            lambda i, keys=presented: environ_for(
                "/v1/open/keys/me", {"X-API-Key": keys[i % len(keys)]}
            ),
            args.requests,
        )["(whole request)"]
        for label, presented in (("wrong secret", wrong), ("unknown id", unknown))
    }

    print(
        f"middleware_cost: median µs per request over {args.requests} requests, in process "
        f"({'PostgreSQL + Redis' if args.postgres_redis else 'SQLite, database cache'}; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})"
    )
    print(f"  {'part of the request':52s} {'ping':>7s} {'keyed':>7s} {'ui':>7s}")
    parts = list(results["keyed"])
    parts += [p for label in ("ping", "ui") for p in results[label] if p not in parts]
    for part in parts:
        cells = [results[label].get(part) for label in ("ping", "keyed", "ui")]
        text = " ".join(f"{c:7.0f}" if c is not None else f"{'-':>7s}" for c in cells)
        print(f"  {part:52s} {text}")
    difference = refusals["wrong secret"] - refusals["unknown id"]
    print(
        f"  refused with 401: wrong secret on an existing key id {refusals['wrong secret']:.0f}"
        f" µs, unknown key id {refusals['unknown id']:.0f} µs (medians), difference "
        f"{difference:+.0f} µs"
    )
    print(
        "  ping: GET /v1/open/bench/ping (no key); keyed: GET /v1/open/keys/me; ui: GET "
        "/login/.\n  Each middleware line is its own work (the layers inside it excluded); "
        "indented lines are\n  process_view hooks (ApiKeyMiddleware.process_view is the key "
        "check)."
    )


if __name__ == "__main__":
    main()
