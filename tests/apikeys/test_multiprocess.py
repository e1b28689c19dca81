"""Changes to a key reach every web process at once: a real gunicorn with several workers.

Twice: on the SQLite default, where every request reads the key's row, and with Redis,
where every worker keeps the row it read and confirms it with the key's generation in the
round trip that counts (apikeys/records.py). Either way revoking, narrowing,
re-allowlisting, shortening the expiry of or rotating a key (without grace), from another
process, refuses the very next request in every worker. gunicorn's access log names the
worker (pid) that served each request, so the test checks that every worker served the key
before the change (and so, with Redis, keeps a copy of it) and refused it after.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy import services

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
TRIES = WORKERS * 8
MAX_TRIES = WORKERS * 60

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Deployment:
    def __init__(self, folder: Path, cache_url: str) -> None:
        self.folder = folder
        self.uses_redis = cache_url.startswith("redis://")
        self.access_log = folder / "access.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "a2v2.settings",
            "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
            "CACHE_URL": cache_url,
            "SECRET_KEY": "multiprocess-test-secret-key-0123456789-abcdefghijklmnop",
            "KEY_ENCRYPTION_KEYS": "multiprocess-test-kek",
            "APIKEY_HASH_KEYS": "multiprocess-test-hashing-key-0123456789-abcdef",
            "DEBUG": "false",
            "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        }
        self.env.pop("RATELIMIT_SQLITE_PATH", None)
        self.base = ""
        self.agent = ""

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def edit(self, key_id: str, assignment: str) -> None:
        """Change a key's row directly, as any other process (the admin UI) would."""
        self.manage(
            "shell",
            "-c",
            "from datetime import timedelta; from django.utils import timezone; "
            "from apikeys.models import ApiKey; "
            f"ApiKey.objects.filter(key_id={key_id!r}).update({assignment})",
        )

    def new_key(self, *extra: str) -> dict:
        return json.loads(
            self.manage(
                "apikey", "create", "--agent", self.agent, "--name", "mp",
                "--permission", "contacts:read", "--per-minute", "1000", "--json", *extra,
            )
        )  # fmt: skip

    def log_mark(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def workers_since(self, mark: int, status: int) -> set[str]:
        """The pids that answered `status` since `mark` (an offset into the access log)."""
        time.sleep(0.2)  # gunicorn writes the line after the response
        with self.access_log.open() as log:
            log.seek(mark)
            lines = [line.split() for line in log if line.strip()]
        return {pid for pid, code, *_ in lines if code == str(status)}


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    cache_url = "dbcache://a2v2_cache"
    if request.param == "redis":
        services.require(services.redis_reachable(), f"Redis ({services.REDIS_URL})")
        cache_url = services.REDIS_URL
        import redis

        redis.Redis.from_url(cache_url).flushdb()  # this run's own database (TEST_REDIS_URL)
    site = Deployment(tmp_path_factory.mktemp("deployment"), cache_url)
    site.manage("migrate", "-v", "0")
    site.manage("createcachetable")
    site.agent = json.loads(
        site.manage("bootstrap", "--organization", "MP", "--email", "mp@example.com", "--json")
    )["agent"]["id"]
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"), "a2v2.wsgi",
            "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
            "--access-logfile", str(site.access_log), "--access-logformat", "%(p)s %(s)s %(U)s",
        ],
        cwd=ROOT, env=site.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    site.base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{site.base}/v1/open/health", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield site
    finally:
        server.terminate()
        server.wait(timeout=10)


def status(site: Deployment, key: str, path: str = "/v1/open/keys/me") -> int:
    request = urllib.request.Request(
        f"{site.base}{path}", headers={"X-API-Key": key, "Connection": "close"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def answered_by_every_worker(site: Deployment, key: str, path: str, expected: int) -> None:
    """Every answer is `expected`, the very first after a change included, and the calls go
    on (a few hundred at most) until each worker has given one: which worker takes a
    connection is the kernel's choice, and a busy machine can starve one for a while."""
    mark = site.log_mark()
    answers: set[int] = set()
    for tries in range(1, MAX_TRIES + 1):
        answers.add(status(site, key, path))
        checking = tries >= TRIES and tries % WORKERS == 0
        if checking and len(site.workers_since(mark, expected)) == WORKERS:
            break
    assert answers == {expected}
    assert len(site.workers_since(mark, expected)) == WORKERS, f"not every worker {expected}"


def served_by_every_worker(site: Deployment, key: str, path: str) -> None:
    answered_by_every_worker(site, key, path, 200)


def refused_by_every_worker(site: Deployment, key: str, path: str, expected: int) -> None:
    answered_by_every_worker(site, key, path, expected)


def contacts_path(site: Deployment) -> str:
    return f"/v1/open/contacts/chatbots/{site.agent}"


@pytest.mark.parametrize(
    ("change", "assignment", "expected"),
    [
        ("revoked", None, 401),
        ("narrowed", "contacts_read=False", 403),
        ("allowlist changed", "ip_allowlist='203.0.113.7'", 403),
        ("expiry shortened", "expires_at=timezone.now() - timedelta(seconds=1)", 401),
        ("every permission removed", "contacts_read=False, contacts_create=False", 403),
    ],
)
def test_a_changed_key_is_refused_by_every_worker_at_once(
    deployment: Deployment, change: str, assignment: str | None, expected: int
) -> None:
    key = deployment.new_key()
    path = contacts_path(deployment)
    served_by_every_worker(deployment, key["key"], path)

    if assignment is None:
        deployment.manage("apikey", "revoke", key["keyId"])
    else:
        deployment.edit(key["keyId"], assignment)

    refused_by_every_worker(deployment, key["key"], path, expected)


def test_a_secret_rotated_without_grace_is_refused_by_every_worker_at_once(
    deployment: Deployment,
) -> None:
    key = deployment.new_key()
    path = contacts_path(deployment)
    served_by_every_worker(deployment, key["key"], path)

    rotated = json.loads(deployment.manage("apikey", "rotate", key["keyId"], "--json"))

    refused_by_every_worker(deployment, key["key"], path, 401)
    served_by_every_worker(deployment, rotated["key"], path)


def test_a_renamed_agent_shows_in_every_worker_at_once(deployment: Deployment) -> None:
    key = deployment.new_key()
    served_by_every_worker(deployment, key["key"], "/v1/open/keys/me")
    deployment.manage(
        "shell",
        "-c",
        "from accounts.models import Agent; "
        f"agent = Agent.objects.get(public_id={deployment.agent!r}); "
        "agent.name = 'Renamed'; agent.save()",
    )
    names = set()
    for _ in range(TRIES):
        request = urllib.request.Request(
            f"{deployment.base}/v1/open/keys/me",
            headers={"X-API-Key": key["key"], "Connection": "close"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            names.add(json.load(response)["data"]["agent"]["name"])
    assert names == {"Renamed"}


def test_every_worker_counts_in_one_sqlite_file_beside_the_database(
    deployment: Deployment,
) -> None:
    if deployment.uses_redis:
        pytest.skip("the counters are in Redis here")
    key = json.loads(
        deployment.manage(
            "apikey", "create", "--agent", deployment.agent, "--name", "limited",
            "--per-minute", "7", "--json",
        )
    )  # fmt: skip
    if time.time() % 60 > 50:  # keep the burst inside one minute window
        time.sleep(61 - time.time() % 60)
    statuses = [status(deployment, key["key"]) for _ in range(12)]
    assert statuses == [200] * 7 + [429] * 5
    assert (deployment.folder / "ratelimit.sqlite3").exists()
