"""The scale-out stack on this machine: PostgreSQL, Redis, several gunicorn workers and
several Redis task workers, as docs/deploy.md describes it. Used by `bin/stack`, by
bench/load_bench.py and by the fault tests (tests/deploy/).

    bin/stack [--port 8800] [--web 4] [--workers 2] [--database a2v2_stack]

checks PostgreSQL and Redis (and starts them with the machine's commands when they are
down), creates the database, migrates, collects static files, bootstraps a demo
workspace once, starts everything, prints the URL and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
GUNICORN = str(Path(PY).parent / "gunicorn")

PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_DEFAULT = "redis://127.0.0.1:6379"
START_POSTGRES = (
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main start"
)
START_REDIS = (
    "mkdir -p /var/lib/redis /var/log/redis && redis-server --daemonize yes --bind 127.0.0.1 -::1 "
    '--port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log'
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(url: str, timeout: float = 3) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def postgres_up(url: str = PG_ADMIN_URL) -> bool:
    import psycopg

    try:
        psycopg.connect(url.replace("postgres://", "postgresql://"), connect_timeout=3).close()
        return True
    except Exception:
        return False


def redis_up(url: str = REDIS_DEFAULT) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:
        return False


def ensure_services() -> None:
    """Start the machine's PostgreSQL and Redis when they are not answering."""
    for name, up, command in (
        ("PostgreSQL", postgres_up, START_POSTGRES),
        ("Redis", redis_up, START_REDIS),
    ):
        if up():
            continue
        print(f"==> starting {name}: {command}", flush=True)
        subprocess.run(command, shell=True, check=False)
        deadline = time.monotonic() + 30
        while not up() and time.monotonic() < deadline:
            time.sleep(0.5)
        if not up():
            sys.exit(f"error: {name} did not start ({command})")


def start_task_redis(folder: Path, port: int = 0) -> tuple[str, subprocess.Popen]:
    """The task queue's own redis-server, as docs/deploy.md asks for: appendonly (a restart
    keeps queued jobs), noeviction (memory pressure never drops one), its own server (the
    cache's FLUSHDB or eviction policy cannot touch it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("error: redis-server is not installed (apt-get install redis-server)")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    command += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "900 1"]
    command += ["--maxmemory-policy", "noeviction", "--logfile", str(folder / "redis.log")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while not redis_up(url):
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"error: the task redis-server did not start (see {folder / 'redis.log'})")
        time.sleep(0.2)
    return url, process


def recreate_database(name: str, admin_url: str = PG_ADMIN_URL, *, drop: bool = False) -> str:
    import psycopg

    with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as db:
        exists = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and drop:
            db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            db.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class Stack:
    database_url: str
    cache_url: str
    tasks_redis_url: str
    port: int = 0
    web_workers: int = 4
    task_workers: int = 2
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="a2v2-stack-")))
    extra_env: dict[str, str] = field(default_factory=dict)
    collectstatic: bool = True
    quiet: bool = True
    web: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = self.port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        secret = (self.folder / "secret").read_text() if (self.folder / "secret").exists() else ""
        if not secret:
            import secrets

            secret = secrets.token_urlsafe(48)
            (self.folder / "secret").write_text(secret)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "a2v2.settings",
            "DEBUG": "false",
            "SECRET_KEY": secret,
            "KEY_ENCRYPTION_KEYS": "stack-kek-" + secret[:32],
            "APIKEY_HASH_KEYS": "stack-hashing-key-" + secret[32:64],
            "DATABASE_URL": self.database_url,
            "CACHE_URL": self.cache_url,
            "TASKS_BACKEND": "redis",
            "TASKS_REDIS_URL": self.tasks_redis_url,
            "MEDIA_ROOT": str(self.folder / "media"),
            "STATIC_ROOT": str(self.folder / "static"),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        if not self.collectstatic:
            env["STATICFILES_BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
        return env | self.extra_env

    def manage(self, *argv: str) -> str:
        done = subprocess.run(
            [PY, "manage.py", *argv], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def prepare(self) -> None:
        self.manage("migrate", "--noinput", "-v", "0")
        if self.collectstatic:
            self.manage("collectstatic", "--noinput", "-v", "0")

    def _output(self, name: str):  # type: ignore[no-untyped-def]
        if not self.quiet:
            return None
        return open(self.folder / f"{name}.log", "ab")

    def start_web(self) -> None:
        command = [GUNICORN, "a2v2.wsgi", "--config", "python:a2v2.gunicorn_conf"]
        command += ["--bind", f"127.0.0.1:{self.port}"]
        command += ["--workers", str(self.web_workers), "--log-level", "warning"]
        command += ["--graceful-timeout", "5", "--timeout", "60"]
        out = self._output("web")
        self.web = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=out)

    def start_worker(self) -> subprocess.Popen:
        command = [PY, "manage.py", "run_redis_tasks", "--continuous", "--shutdown-timeout", "10"]
        out = self._output(f"worker{len(self.workers)}")
        worker = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=out)
        self.workers.append(worker)
        return worker

    def start(self, timeout: float = 60) -> None:
        self.start_web()
        for _ in range(self.task_workers):
            self.start_worker()
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if http_status(f"{self.url}/v1/open/health") == 200:
                return
            if self.web is not None and self.web.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log('web')[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"the stack did not become healthy: {self.log('web')[-3000:]}")

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def web_worker_pids(self) -> list[int]:
        assert self.web is not None
        children = Path(f"/proc/{self.web.pid}/task/{self.web.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def stop(self) -> None:
        processes = [p for p in [self.web, *self.workers] if p is not None]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bootstrap(stack: Stack) -> dict:
    login = stack.folder / "demo-login.json"
    if not login.exists():
        out = stack.manage(
            "bootstrap", "--organization", "Stack workspace", "--email", "demo@example.com",
            "--agent", "Stack agent", "--json",
        )  # fmt: skip
        login.write_text(out)
        login.chmod(0o600)
    return json.loads(login.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8800)))
    parser.add_argument("--web", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--workers", type=int, default=2, help="task worker processes")
    parser.add_argument("--database", default="a2v2_stack", help="PostgreSQL database name")
    parser.add_argument("--redis-db", type=int, default=10, help="Redis database (cache)")
    parser.add_argument(
        "--tasks-redis-port", type=int, default=0, help="the task queue's own redis-server"
    )
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    parser.add_argument("--folder", default=str(ROOT / "var" / "stack"))
    args = parser.parse_args()

    ensure_services()
    database_url = recreate_database(args.database, drop=args.fresh)
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    tasks_redis_url, tasks_redis = start_task_redis(folder / "redis-tasks", args.tasks_redis_port)
    metrics_dir = folder / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # counters start again with the stack
    metrics_dir.mkdir()
    stack = Stack(
        database_url=database_url,
        cache_url=f"{REDIS_DEFAULT}/{args.redis_db}",
        tasks_redis_url=tasks_redis_url,
        port=args.port,
        web_workers=args.web,
        task_workers=args.workers,
        folder=folder,
        quiet=False,
        extra_env={
            "METRICS_ENABLED": "true",
            "MONITORING_ALLOWED_IPS": "127.0.0.1/32",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        },
    )
    print(f"==> Migrating {database_url}", flush=True)
    stack.prepare()
    login = bootstrap(stack)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        print(
            f"""
  A2V2 scale-out stack at {stack.url}/
  PostgreSQL {database_url}, Redis cache {stack.cache_url}
  Task queue {stack.tasks_redis_url} (its own redis-server: appendonly, noeviction)
  Health details and metrics: {stack.url}/v1/open/health  {stack.url}/metrics
  gunicorn workers: {args.web}   task workers: {args.workers} (run_redis_tasks)
  Demo login:  {login["owner"]["email"]}  /  {login["owner"]["password"]}
  Agent id:    {login["agent"]["id"]}
  API docs:    {stack.url}/v1/open/docs
  Press Ctrl-C to stop everything.
""",
            flush=True,
        )
        while True:
            for process in [stack.web, *stack.workers]:
                if process is not None and process.poll() is not None:
                    print(f"==> a process exited ({process.args[:3]}); stopping", flush=True)
                    return
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        print("\n==> Stopping", flush=True)
        stack.stop()
        tasks_redis.terminate()
        tasks_redis.wait(timeout=15)


if __name__ == "__main__":
    main()


ISSUE_KEYS = """
import json, sys
from accounts.models import Agent
from apikeys.models import ALL_PERMISSIONS, ApiKey
agent = Agent.objects.get(public_id=sys.argv[-3])
flags = {p.field: True for p in ALL_PERMISSIONS if sys.argv[-1] == "all" or p.field in sys.argv[-1].split(",")}
keys = [ApiKey.issue(agent, name=f"stack {i}", rate_limit_per_minute=1000, rate_limit_per_hour=10000, **flags)[1]
        for i in range(int(sys.argv[-2]))]
print(json.dumps(keys))
"""


def issue_keys(stack: Stack, agent_id: str, count: int, permissions: str = "all") -> list[str]:
    """`count` keys of the agent, each with the given permissions ("all" or a comma list of
    fields such as "contacts_read") and the highest rate limits a key may have."""
    done = subprocess.run(
        [PY, "-c", "import django; django.setup(); exec(open(0).read())", agent_id, str(count), permissions],
        cwd=ROOT, env=stack.env, input=ISSUE_KEYS, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def new_agent(stack: Stack, organization: str, email: str) -> str:
    out = stack.manage("bootstrap", "--organization", organization, "--email", email, "--json")
    return json.loads(out)["agent"]["id"]
