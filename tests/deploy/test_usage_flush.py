"""Usage counts behind a real gunicorn (2 workers, a2v2/gunicorn_conf.py): what each worker
counted is written when it stops, and the two workers' counts add up in the same rows."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.deploy.services import free_port, wait_for
from tests.deploy.test_gunicorn import GUNICORN, ROOT, _env, _manage, request

pytestmark = pytest.mark.slow


def test_counts_are_flushed_when_workers_stop_and_add_up_across_workers() -> None:
    folder = Path(tempfile.mkdtemp(prefix="a2v2-usage-"))
    env = _env(folder) | {"LOG_LEVEL": "WARNING"}
    try:
        _manage(env, "migrate", "--noinput", "-v", "0")
        _manage(env, "createcachetable")
        workspace = json.loads(
            _manage(env, "bootstrap", "--organization", "U", "--email", "u@example.com", "--json")
        )
        created = json.loads(
            _manage(env, "apikey", "create", "--agent", workspace["agent"]["id"], "--name",
                    "counted", "--per-minute", "1000", "--json")
        )  # fmt: skip
        port = free_port()
        command = [GUNICORN, "a2v2.wsgi", "--config", "python:a2v2.gunicorn_conf"]
        command += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning"]
        process = subprocess.Popen(command, cwd=ROOT, env=env)
        try:
            assert wait_for(
                lambda: request(port, b"GET /v1/open/health HTTP/1.1\r\n")[0] == 200, 30
            )
            head = f"GET /v1/open/keys/me HTTP/1.1\r\nX-API-Key: {created['key']}\r\n".encode()
            statuses = [request(port, head)[0] for _ in range(40)]
        finally:
            process.terminate()
            process.wait(timeout=30)
        assert statuses == [200] * 40
        report = json.loads(_manage(env, "apikey", "usage", created["keyId"], "--json"))
        assert report["served"] == 40
        assert report["lastUsed"]["endpoint"] == "GET /v1/open/keys/me"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
