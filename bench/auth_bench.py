"""What a guarded Open API call costs, side by side with the peer, in one run.

Two servers run at once on loopback, each gunicorn with 2 workers and the same database:

  ours   a2v2 (bench/settings.py: the product plus bench/urls.py's trivial endpoint)
  peer   djangorestframework-api-key 3.1 with Django's default middleware and a trivial
         APIView, installed by this script into a throwaway virtualenv (not a dependency
         of the project; pip from PyPI, once, then reused from --peer-venv)

and wrk drives one phase at a time, every phase with the same settings
(`wrk -t1 -c<connections> -d<seconds>s`), the phases interleaved over --rounds rounds:

  ours baseline  GET /v1/open/bench/ping         no key; every middleware of the API runs
  ours guarded   GET /v1/open/bench/ping/keyed   the same view behind the key middleware
  ours keys/me   GET /v1/open/keys/me            a real endpoint behind it
  ours uncounted GET /v1/open/bench/ping/keyed   the same, on a third server (same database)
                                                 with usage counting off (APIKEY_USAGE_ENABLED)
  peer open      GET /ping                       DRF APIView, AllowAny
  peer guarded   GET /ping/keyed                 the same view with HasAPIKey

Guarded phases go round-robin over --keys keys, so no per-key rate limit (at most 1,000 a
minute) is what gets measured; every phase, open ones too, sends requests built once by
the same kind of wrk Lua script (`round_robin_script`), so the client's own cost is alike.
Printed: each phase's req/s (the median of the rounds, and each round), latency, non-2xx
answers; ours guarded ÷ peer
guarded and ours guarded ÷ ours baseline; and, sequentially over one keep-alive
connection, the median time of a wrong secret on an existing key id against an unknown
key id. Usage:

  .venv/bin/python bench/auth_bench.py                    # SQLite, the embedded default
  .venv/bin/python bench/auth_bench.py --postgres-redis   # PostgreSQL + Redis
  .venv/bin/python bench/auth_bench.py --both

--postgres-redis recreates the databases a2v2_bench (ours) and a2v2_bench_peer (the peer)
and uses Redis database 14: they are the bench's own (--database and --redis-db choose
others, e.g. when two benches share a machine). Both apps keep database connections
open (CONN_MAX_AGE=60) so neither pays a connection per request. Needs wrk
(`apt-get install wrk`). On a shared machine compare the ratios, which are measured in
the same run, more than the absolute figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
PG = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/"
PEER_REQUIREMENTS = [
    "djangorestframework-api-key==3.1.*",
    "djangorestframework",
    "gunicorn",
    "psycopg[binary]",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen) -> None:
    for _ in range(600):
        if process.poll() is not None:
            sys.exit(f"the server for {url} exited")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{url} did not come up")


# --- wrk --------------------------------------------------------------------------------


@dataclass
class Phase:
    label: str
    url: str
    script: Path | None = None
    server: subprocess.Popen | None = None  # whose CPU the phase is charged with


def cpu_seconds(server: subprocess.Popen) -> float:
    """User + system CPU of a gunicorn master and its workers so far (Linux /proc)."""
    pids = [server.pid]
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    if children.exists():
        pids += [int(pid) for pid in children.read_text().split()]
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def run_wrk(phase: Phase, seconds: int, connections: int) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", phase.url]
    if phase.script:
        command[1:1] = ["-s", str(phase.script)]
    cpu_before = cpu_seconds(phase.server) if phase.server else 0.0
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(phase.server) - cpu_before if phase.server else 0.0
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    return {
        "cpu_ms": cpu / max(requests, 1) * 1000,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": latency.get("50", "?"),
        "p99": latency.get("99", "?"),
        "requests": requests,
        "non2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def round_robin_script(path: Path, header: str | None, values: list[str]) -> Path:
    """A wrk script sending GETs round-robin over `values` of `header` (None: one request,
    no extra header). Every phase uses one, the open ones too, and the requests are built
    once in `init`, not per request: wrk.format per request cost wrk ~30 µs of CPU a
    request on these 2 cores, which the server then lost, and only the keyed phases paid."""
    headers = (
        [f"{{[{json.dumps(header)}] = {json.dumps(v)}}}" for v in values] if header else ["{}"]
    )
    path.write_text(
        "local headers = {" + ",".join(headers) + "}\n"
        "local requests, i = {}, 0\n"
        "init = function(args)\n"
        '  for n, h in ipairs(headers) do requests[n] = wrk.format("GET", nil, h) end\n'
        "end\n"
        "request = function()\n  i = i % #requests + 1\n  return requests[i]\nend\n"
    )
    return path


# --- ours -------------------------------------------------------------------------------


def our_env(folder: Path, postgres_redis: bool, args: argparse.Namespace) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "KEY_ENCRYPTION_KEYS": "bench-kek",
        "APIKEY_HASH_KEYS": "bench-apikey-hashing-key-" + "y" * 32,
        # The timing line sends hundreds of wrong secrets from one address.
        "APIKEY_FAILURES_PER_CLIENT": "1000000",
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "60",
    }
    env.pop("RATELIMIT_SQLITE_PATH", None)
    if postgres_redis:
        return env | {
            "DATABASE_URL": f"{PG}/{args.database}",
            "CACHE_URL": f"{REDIS}{args.redis_db}",
        }
    return env | {
        "DATABASE_URL": f"sqlite:///{folder / 'ours' / 'bench.sqlite3'}",
        "CACHE_URL": "dbcache://a2v2_cache",
    }


ISSUE_KEYS = """
import json, sys
from accounts.models import Agent
from apikeys.models import ApiKey
agent = Agent.objects.get(public_id=sys.argv[-2])
keys = [ApiKey.issue(agent, name=f"bench {n}", contacts_read=True, rate_limit_per_minute=1000,
                     rate_limit_per_hour=10000) for n in range(int(sys.argv[-1]))]
print(json.dumps([[key.key_id, full] for key, full in keys]))
"""


def prepare_ours(env: dict[str, str], count: int) -> list[list[str]]:
    def manage(*argv: str) -> str:
        done = subprocess.run(
            [PY, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if done.returncode:
            sys.exit(f"manage.py {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
        return done.stdout

    manage("migrate", "-v", "0")
    manage("createcachetable")
    agent = json.loads(
        manage("bootstrap", "--organization", "Bench", "--email", "bench@example.com", "--json")
    )["agent"]["id"]
    done = subprocess.run(
        [PY, "-c", "import django; django.setup(); exec(open(0).read())", agent, str(count)],
        cwd=ROOT, env=env, input=ISSUE_KEYS, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the peer ---------------------------------------------------------------------------

PEER_SETTINGS = """
import os
SECRET_KEY = "peer-bench-secret-key-" + "x" * 40
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
    "rest_framework", "rest_framework_api_key",
]
# Django's default middleware (django-admin startproject).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "peer_urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
url = os.environ["PEER_DATABASE"]
if url.startswith("postgres"):
    name = url.rsplit("/", 1)[1]
    DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": name,
                             "USER": "postgres", "HOST": "127.0.0.1", "PORT": "5432",
                             "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": url,
                             "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}}
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# JSON only, and no session/basic authentication to run before the permission: the
# peer does the least work it can.
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
}
"""

PEER_URLS = """
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_api_key.permissions import HasAPIKey


class Ping(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"success": True, "message": "pong", "data": {}})


class KeyedPing(Ping):
    permission_classes = [HasAPIKey]


urlpatterns = [path("ping", Ping.as_view()), path("ping/keyed", KeyedPing.as_view())]
"""

PEER_KEYS = """
import json, sys
import django
django.setup()
from rest_framework_api_key.models import APIKey
print(json.dumps([APIKey.objects.create_key(name=f"bench {n}")[1] for n in range(int(sys.argv[1]))]))
"""


def peer_venv(path: Path, fresh: bool) -> Path:
    python = path / "bin" / "python"
    if fresh and path.exists():
        shutil.rmtree(path)
    if not python.exists():
        print(f"==> installing the peer into a throwaway virtualenv: {path}", flush=True)
        base = getattr(sys, "_base_executable", PY)
        subprocess.run([base, "-m", "venv", str(path)], check=True)
        django_version = subprocess.run(
            [PY, "-c", "import django; print(django.__version__)"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             f"Django=={django_version}", *PEER_REQUIREMENTS],
            check=True,
        )  # fmt: skip
    return python


def peer_versions(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    wanted = {"django", "djangorestframework", "djangorestframework-api-key"}
    found = {p["name"].lower(): p["version"] for p in json.loads(out)}
    return ", ".join(f"{name} {found.get(name, '?')}" for name in sorted(wanted))


def prepare_peer(python: Path, folder: Path, database: str, count: int) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "peer_settings.py").write_text(PEER_SETTINGS)
    (folder / "peer_urls.py").write_text(PEER_URLS)
    env = {
        **os.environ,
        "PYTHONPATH": str(folder),
        "DJANGO_SETTINGS_MODULE": "peer_settings",
        "PEER_DATABASE": database,
    }
    subprocess.run(
        [str(python), "-m", "django", "migrate", "-v", "0"], cwd=folder, env=env, check=True
    )
    done = subprocess.run(
        [str(python), "-c", PEER_KEYS, str(count)],
        cwd=folder, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    env["PEER_KEYS"] = done.stdout.strip().splitlines()[-1]
    return env


# --- the timing line --------------------------------------------------------------------


def refusal_timings(port: int, key_id: str, samples: int) -> tuple[list[float], list[float]]:
    """Wrong secrets on an existing key id and on unknown key ids, alternating over one
    keep-alive connection (each request a fresh random secret)."""
    sys.path.insert(0, str(ROOT))
    from apikeys import keyformat

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    existing: list[float] = []
    unknown: list[float] = []

    def timed(key: str) -> float:
        started = time.perf_counter()
        connection.request("GET", "/v1/open/keys/me", headers={"X-API-Key": key})
        response = connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 401:
            sys.exit(f"expected 401 for a wrong key, got {response.status}")
        return elapsed

    for n in range(samples + 20):
        wrong = keyformat.compose(key_id, keyformat.new_secret())
        stranger = keyformat.compose(keyformat.new_key_id(), keyformat.new_secret())
        pair = [(existing, wrong), (unknown, stranger)]
        for bucket, key in pair if n % 2 else pair[::-1]:
            spent = timed(key)
            if n >= 20:  # warm-up
                bucket.append(spent)
    connection.close()
    return existing, unknown


# --- one configuration ------------------------------------------------------------------


def recreate_postgres(name: str) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.stack import recreate_database

    recreate_database(name, f"{PG}/postgres", drop=True)


def bench(args: argparse.Namespace, postgres_redis: bool) -> None:
    folder = Path(tempfile.mkdtemp(prefix="a2v2-auth-bench-"))
    (folder / "ours").mkdir()
    servers: list[subprocess.Popen] = []
    try:
        if postgres_redis:
            recreate_postgres(args.database)
            recreate_postgres(f"{args.database}_peer")
            flush = ["redis-cli", "-n", str(args.redis_db), "flushdb"]
            subprocess.run(flush, check=True, capture_output=True)
        env = our_env(folder, postgres_redis, args)
        print("==> preparing ours and the peer", flush=True)
        keys = prepare_ours(env, args.keys * 3)
        python = peer_venv(Path(args.peer_venv), args.fresh_peer)
        peer_database = (
            f"{PG}/{args.database}_peer" if postgres_redis else str(folder / "peer.sqlite3")
        )
        peer_env = prepare_peer(python, folder / "peer", peer_database, args.keys)
        peer_keys = json.loads(peer_env["PEER_KEYS"])

        ours_port, peer_port = free_port(), free_port()
        ours_command = [
            str(Path(PY).parent / "gunicorn"),
            "a2v2.wsgi",
            "--workers",
            str(args.workers),
        ]
        ours_command += ["--bind", f"127.0.0.1:{ours_port}", "--log-level", "warning"]
        servers.append(subprocess.Popen(ours_command, cwd=ROOT, env=env))
        peer_command = [str(python.parent / "gunicorn"), "django.core.wsgi:get_wsgi_application()"]
        peer_command += ["--workers", str(args.workers), "--bind", f"127.0.0.1:{peer_port}"]
        peer_command += ["--log-level", "warning"]
        servers.append(subprocess.Popen(peer_command, cwd=folder / "peer", env=peer_env))
        # The same app with usage counting off: what counting costs, measured in the run.
        uncounted_port = free_port()
        uncounted_command = [*ours_command[:-4], "--bind", f"127.0.0.1:{uncounted_port}"]
        uncounted_command += ["--log-level", "warning"]
        uncounted_env = env | {"APIKEY_USAGE_ENABLED": "false"}
        servers.append(subprocess.Popen(uncounted_command, cwd=ROOT, env=uncounted_env))
        ours, peer = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{peer_port}"
        uncounted = f"http://127.0.0.1:{uncounted_port}"
        wait_until_up(f"{ours}/v1/open/bench/ping", servers[0])
        wait_until_up(f"{peer}/ping", servers[1])
        wait_until_up(f"{uncounted}/v1/open/bench/ping", servers[2])

        ping_keys = [full for _, full in keys[: args.keys]]
        me_keys = [full for _, full in keys[args.keys : args.keys * 2]]
        uncounted_keys = [full for _, full in keys[args.keys * 2 :]]
        open_script = round_robin_script(folder / "open.lua", None, [])
        phases = [
            Phase(
                "ours baseline  GET /v1/open/bench/ping",
                f"{ours}/v1/open/bench/ping",
                open_script,
                servers[0],
            ),
            Phase("peer open      GET /ping (AllowAny)", f"{peer}/ping", open_script, servers[1]),
            Phase(
                "ours guarded   GET /v1/open/bench/ping/keyed",
                f"{ours}/v1/open/bench/ping/keyed",
                round_robin_script(folder / "ours.lua", "X-API-Key", ping_keys),
                servers[0],
            ),
            Phase(
                "ours uncounted GET /v1/open/bench/ping/keyed",
                f"{uncounted}/v1/open/bench/ping/keyed",
                round_robin_script(folder / "uncounted.lua", "X-API-Key", uncounted_keys),
                servers[2],
            ),
            Phase(
                "peer guarded   GET /ping/keyed (HasAPIKey)",
                f"{peer}/ping/keyed",
                round_robin_script(
                    folder / "peer.lua", "Authorization", [f"Api-Key {k}" for k in peer_keys]
                ),
                servers[1],
            ),
            Phase(
                "ours keys/me   GET /v1/open/keys/me",
                f"{ours}/v1/open/keys/me",
                round_robin_script(folder / "me.lua", "X-API-Key", me_keys),
                servers[0],
            ),
        ]
        for phase in phases:  # warm every worker and key
            run_wrk(phase, 2, args.connections)
        results: dict[str, list[dict]] = {phase.label: [] for phase in phases}
        for round_ in range(args.rounds):
            for phase in phases:
                results[phase.label].append(run_wrk(phase, args.seconds, args.connections))
            print(f"    round {round_ + 1}/{args.rounds} done", flush=True)
        existing, unknown = refusal_timings(ours_port, keys[0][0], args.samples)
        versions = peer_versions(python)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(folder, ignore_errors=True)

    report(args, postgres_redis, phases, results, existing, unknown, versions)


def report(
    args: argparse.Namespace,
    postgres_redis: bool,
    phases: list[Phase],
    results: dict[str, list[dict]],
    existing: list[float],
    unknown: list[float],
    versions: str,
) -> None:
    def median(label_start: str, measure: str) -> float:
        label = next(p.label for p in phases if p.label.startswith(label_start))
        return statistics.median(r[measure] for r in results[label])

    def rps(label_start: str) -> float:
        return median(label_start, "rps")

    def cpu(label_start: str) -> float:
        return median(label_start, "cpu_ms")

    backend = (
        "PostgreSQL + Redis (both apps on PostgreSQL; our counters in Redis)"
        if postgres_redis
        else "SQLite, the embedded default (both apps on SQLite; our counters in their own file)"
    )
    load = os.getloadavg()[0]
    print()
    print(f"auth_bench: {backend}")
    print(
        f"  gunicorn {args.workers} workers per app; wrk -t1 -c{args.connections} -d{args.seconds}s per "
        f"phase, {args.rounds} rounds interleaved; {args.keys} keys round-robin per guarded phase"
    )
    print(f"  peer: {versions}, Django's default middleware")
    print(f"  machine: {os.cpu_count()} cores, load average {load:.1f} at the end")
    print()
    print(
        f"  {'phase':46s} {'req/s':>7s}  {'each round':20s} {'p50':>8s} {'p99':>8s}"
        f" {'CPU/req':>8s}  non-2xx"
    )
    for phase in phases:
        runs = results[phase.label]
        each = "/".join(f"{r['rps']:.0f}" for r in runs)
        last = runs[-1]
        bad = sum(r["non2xx"] for r in runs)
        total = sum(r["requests"] for r in runs)
        print(
            f"  {phase.label:46s} {rps(phase.label):7.0f}  {each:20s} {last['p50']:>8s} "
            f"{last['p99']:>8s} {cpu(phase.label):6.2f}ms  {bad}/{total}"
        )
    target = "≥ 1.3x" if postgres_redis else "≥ 1.0x"
    print()

    def paired(first: str, second: str) -> float:
        """The median over rounds of first ÷ second measured in the same round: a load
        spike on the shared machine hits both phases of a round, not one of them."""
        a = next(p.label for p in phases if p.label.startswith(first))
        b = next(p.label for p in phases if p.label.startswith(second))
        return statistics.median(
            x["rps"] / y["rps"] for x, y in zip(results[a], results[b], strict=True)
        )

    print(f"  {'throughput ratio':34s} {'medians':>8s}   {'per round':>9s}   {'by CPU/req':>10s}")
    for label, ours_phase, other, goal in (
        ("ours guarded / peer guarded", "ours guarded", "peer guarded", f"target {target}"),
        (
            "ours guarded / ours baseline",
            "ours guarded",
            "ours baseline",
            "target ≥ 0.6x" if postgres_redis else "",
        ),
        (
            "ours guarded / ours uncounted",
            "ours guarded",
            "ours uncounted",
            "usage counting's cost: target ≥ 0.95x",
        ),
        ("peer guarded / peer open", "peer guarded", "peer open", "for reference"),
        ("ours keys/me / peer guarded", "ours keys/me", "peer guarded", ""),
    ):
        print(
            f"  {label:34s} {rps(ours_phase) / rps(other):7.2f}x   "
            f"{paired(ours_phase, other):8.2f}x   {cpu(other) / cpu(ours_phase):9.2f}x   {goal}"
        )
    print(
        "  (medians: of each phase's req/s over the rounds; per round: the median of the\n"
        "   ratio measured within each round; CPU/req: user + system time of the app's\n"
        "   gunicorn processes per request served, steady on a busy machine, without the\n"
        "   database's and Redis's own CPU)"
    )
    difference = statistics.median(existing) - statistics.median(unknown)
    print()
    print(
        f"  refusal timing ({len(existing)} each, alternating, one keep-alive connection): "
        f"wrong secret on an existing key id {statistics.median(existing):.2f} ms, unknown key "
        f"id {statistics.median(unknown):.2f} ms (medians), difference {difference:+.2f} ms "
        f"(target within 1 ms)"
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=8, help="per phase")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keys", type=int, default=40, help="per guarded phase")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per app")
    parser.add_argument("--samples", type=int, default=300, help="for the refusal timing")
    parser.add_argument("--postgres-redis", action="store_true")
    parser.add_argument("--both", action="store_true", help="SQLite, then PostgreSQL + Redis")
    parser.add_argument(
        "--database", default="a2v2_bench", help="PostgreSQL database (and <name>_peer)"
    )
    parser.add_argument("--redis-db", type=int, default=14, help="Redis database number")
    parser.add_argument(
        "--peer-venv", default=str(Path(tempfile.gettempdir()) / "a2v2-bench-peer-venv")
    )
    parser.add_argument("--fresh-peer", action="store_true", help="reinstall the peer")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("auth_bench needs wrk: apt-get install wrk")
    for postgres_redis in [False, True] if args.both else [args.postgres_redis]:
        bench(args, postgres_redis)


if __name__ == "__main__":
    main()
