"""Revocation reaches every web process: a real gunicorn with several workers.

Each worker verifies the key once and memoizes the result; deleting or rotating the key
must still refuse the very next request in every one of them.
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

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("deployment")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "a2v2.settings",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "CACHE_URL": "dbcache://a2v2_cache",
        "SECRET_KEY": "multiprocess-test-secret-key-0123456789-abcdefghijklmnop",
        "KEY_ENCRYPTION_KEYS": "multiprocess-test-kek",
        "DEBUG": "false",
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
    }

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    manage("migrate", "-v", "0")
    manage("createcachetable")
    agent = json.loads(
        manage("bootstrap", "--organization", "MP", "--email", "mp@example.com", "--json")
    )["agent"]["id"]
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "a2v2.wsgi",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{base}/v1/open/health", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield {"base": base, "agent": agent, "manage": manage}
    finally:
        server.terminate()
        server.wait(timeout=10)


def status(base: str, key: str) -> int:
    request = urllib.request.Request(
        f"{base}/v1/open/keys/me", headers={"X-API-Key": key, "Connection": "close"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def new_key(deployment: dict) -> dict:
    return json.loads(
        deployment["manage"](
            "apikey",
            "create",
            "--agent",
            deployment["agent"],
            "--name",
            "mp",
            "--per-minute",
            "1000",
            "--json",
        )
    )


def test_a_revoked_key_is_refused_by_every_worker_at_once(deployment: dict) -> None:
    key = new_key(deployment)
    # Enough requests that every worker has verified (and memoized) the key.
    assert {status(deployment["base"], key["key"]) for _ in range(WORKERS * 8)} == {200}

    deployment["manage"]("apikey", "revoke", key["keyId"])

    assert {status(deployment["base"], key["key"]) for _ in range(WORKERS * 8)} == {401}


def test_a_rotated_secret_is_refused_by_every_worker_at_once(deployment: dict) -> None:
    key = new_key(deployment)
    assert {status(deployment["base"], key["key"]) for _ in range(WORKERS * 8)} == {200}

    rotated = json.loads(deployment["manage"]("apikey", "rotate", key["keyId"], "--json"))

    # Fewer tries than the failed-check budget, so every refusal is a plain 401.
    assert {status(deployment["base"], key["key"]) for _ in range(WORKERS * 3)} == {401}
    assert {status(deployment["base"], rotated["key"]) for _ in range(WORKERS * 4)} == {200}
