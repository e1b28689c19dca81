"""How much the API-key middleware costs, measured against the same view unguarded.

Starts gunicorn (2 workers, as in LESSONS.md's peer figure) on a fresh database, issues
keys, and drives it with wrk on loopback, each phase bounded in time:

  1. baseline: GET /bench/unguarded/<key id>  (the keys/me view, no auth)
  2. guarded:  GET /v1/open/keys/me with X-API-Key, round-robin over many keys (so the
     per-key rate limit, at most 1,000/min, is not what is measured)
  3. flood:    phase 2 again while a second wrk sends wrong secrets for a real key id
  4. cold:     the first request of a key in a fresh process (one argon2id check)

Prints requests/s and latency for each phase and the guarded/baseline ratio (the peer
figure for djangorestframework-api-key is 0.42x). Usage:

  .venv/bin/python bench/auth_bench.py [--seconds 10] [--keys 100] [--postgres-redis]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    total = int(re.search(r"(\d+) requests in", output).group(1))
    return {
        "rps": rps,
        "p50": latency.get("50"),
        "p99": latency.get("99"),
        "requests": total,
        "non2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--postgres-redis",
        action="store_true",
        help="Use PostgreSQL (database a2v2_bench) and Redis instead of SQLite.",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench needs wrk (apt-get install wrk)")

    folder = Path(tempfile.mkdtemp(prefix="a2v2-bench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "KEY_ENCRYPTION_KEYS": "bench-kek",
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "LOG_LEVEL": "WARNING",
    }
    if args.postgres_redis:
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "a2v2_bench"], check=True
        )
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", "a2v2_bench"], check=True)
        env |= {
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/a2v2_bench",
            "CACHE_URL": "redis://127.0.0.1:6379/14",
        }
        subprocess.run(["redis-cli", "-n", "14", "flushdb"], check=True, capture_output=True)
    else:
        env |= {
            "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
            "CACHE_URL": "dbcache://a2v2_cache",
        }

    def manage(*argv: str) -> str:
        return subprocess.run(
            [PY, "manage.py", *argv], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout

    manage("migrate", "-v", "0")
    manage("createcachetable")
    agent = json.loads(
        manage("bootstrap", "--organization", "Bench", "--email", "bench@example.com", "--json")
    )["agent"]["id"]
    keys = json.loads(
        manage(
            "shell",
            "--no-imports",
            "-c",
            f"""
import json
from accounts.models import Agent
from apikeys.models import ApiKey
agent = Agent.objects.get(public_id="{agent}")
out = []
for i in range({args.keys}):
    key, full = ApiKey.issue(agent, name=f"bench {{i}}", contacts_read=True,
                             rate_limit_per_minute=1000, rate_limit_per_hour=10000)
    out.append([key.key_id, full])
print(json.dumps(out))
""",
        )
    )
    lua = folder / "keys.lua"
    lua.write_text(
        "keys = {" + ",".join(f'"{full}"' for _, full in keys) + "}\n"
        "i = 0\nrequest = function()\n  i = i % #keys + 1\n"
        '  return wrk.format("GET", nil, {["X-API-Key"] = keys[i]})\nend\n'
    )
    flood = folder / "flood.lua"
    key_id = keys[0][0]
    flood.write_text(
        'math.randomseed(os.time())\nlocal chars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"\n'
        "request = function()\n  local s = {}\n  for n = 1, 38 do local r = math.random(1, 62); s[n] = chars:sub(r, r) end\n"
        f'  return wrk.format("GET", nil, {{["X-API-Key"] = "{key_id}", ["X-API-Secret"] = table.concat(s):sub(1, 32)}})\nend\n'
    )

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(Path(PY).parent / "gunicorn"),
            "a2v2.wsgi",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/v1/open/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)

        # Cold: the first request of a never-seen key (one argon2id check), then warm.
        cold_key = keys[-1][1]
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            urllib.request.urlopen(
                urllib.request.Request(f"{base}/v1/open/keys/me", headers={"X-API-Key": cold_key})
            )
            timings.append((time.perf_counter() - started) * 1000)

        # Verify every key once (one argon2id each, ~0.2 s); the shared memo then serves
        # both workers, so the timed phases measure the steady state.
        for _, full in keys:
            urllib.request.urlopen(
                urllib.request.Request(f"{base}/v1/open/keys/me", headers={"X-API-Key": full})
            )
        baseline = run_wrk(f"{base}/bench/unguarded/{key_id}", args.seconds, args.connections)
        guarded = run_wrk(f"{base}/v1/open/keys/me", args.seconds, args.connections, lua)

        flooder = subprocess.Popen(
            [
                "wrk",
                "-t1",
                "-c4",
                f"-d{args.seconds + 2}s",
                "-s",
                str(flood),
                f"{base}/v1/open/keys/me",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1)
        during_flood = run_wrk(f"{base}/v1/open/keys/me", args.seconds, args.connections, lua)
        flood_out = flooder.communicate()[0]
        flood_rps = float(re.search(r"Requests/sec:\s+([\d.]+)", flood_out).group(1))
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)

    backend = "PostgreSQL + Redis" if args.postgres_redis else "SQLite + database cache"
    print(
        f"auth_bench: gunicorn 2 workers, {backend}, wrk {args.connections} connections, {args.seconds}s per phase"
    )
    print(
        f"  cold first request of a key (argon2id): {timings[0]:.0f} ms, then {timings[1]:.1f} / {timings[2]:.1f} ms"
    )
    for name, result in (
        ("baseline (unguarded view)", baseline),
        ("guarded (X-API-Key)", guarded),
        ("guarded during wrong-secret flood", during_flood),
    ):
        print(
            f"  {name:36s} {result['rps']:8.0f} req/s  p50 {result['p50']:>8s}  p99 {result['p99']:>8s}"
            f"  non-2xx {result['non2xx']}/{result['requests']}"
        )
    print(
        f"  flood of wrong secrets answered at {flood_rps:.0f} req/s (401/429, no argon2 beyond the budget)"
    )
    print(f"  ratio guarded / baseline: {guarded['rps'] / baseline['rps']:.2f}x  (peer: 0.42x)")
    print(f"  ratio during flood / guarded: {during_flood['rps'] / guarded['rps']:.2f}x")


if __name__ == "__main__":
    main()
