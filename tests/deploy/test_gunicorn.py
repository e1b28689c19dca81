"""The Open API behind a real gunicorn, configured as in production (a2v2/gunicorn_conf.py):

- a key sent every way (X-API-Key, Bearer, the two-header form, the query string under every
  name the API refuses, a malformed request line) leaves no key or secret in gunicorn's
  access log, its error log or the app's log;
- a sweep of hostile requests (oversized bodies and headers, huge query strings, broken
  multipart, wrong content types, garbage request lines) is answered with a 4xx in the JSON
  envelope every time: never a 5xx, never gunicorn's HTML page. HEAD is answered like GET.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from apikeys import keyformat
from apikeys.verification import QUERY_STRING_NAMES
from tests.deploy.services import free_port, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


@dataclass
class Server:
    port: int
    folder: Path
    agent: str
    key: str
    process: subprocess.Popen

    @property
    def logs(self) -> str:
        return "".join(
            (self.folder / name).read_text(errors="replace")
            for name in ("access.log", "error.log", "app.log")
            if (self.folder / name).exists()
        )


def _env(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "a2v2.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "KEY_ENCRYPTION_KEYS": secrets.token_urlsafe(32),
        "APIKEY_HASH_KEYS": secrets.token_urlsafe(32),
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "CACHE_URL": "dbcache://a2v2_cache",
        "MEDIA_ROOT": str(folder / "media"),
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "DEBUG",
        "PYTHONUNBUFFERED": "1",
    }


def _manage(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    folder = Path(tempfile.mkdtemp(prefix="a2v2-gunicorn-"))
    env = _env(folder)
    _manage(env, "migrate", "--noinput", "-v", "0")
    _manage(env, "createcachetable")
    workspace = json.loads(
        _manage(env, "bootstrap", "--organization", "Logs", "--email", "o@example.com", "--json")
    )
    agent = workspace["agent"]["id"]
    created = json.loads(
        _manage(
            env,
            "apikey",
            "create",
            "--agent",
            agent,
            "--name",
            "logs",
            "--all-permissions",
            "--per-minute",
            "1000",
            "--per-hour",
            "10000",
            "--json",
        )
    )
    port = free_port()
    command = [GUNICORN, "a2v2.wsgi", "--config", "python:a2v2.gunicorn_conf"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--log-level", "debug"]
    command += ["--access-logfile", str(folder / "access.log")]
    command += ["--error-logfile", str(folder / "error.log")]
    with open(folder / "app.log", "wb") as app_log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=app_log, stderr=app_log)
    try:
        assert wait_for(lambda: request(port, b"GET /v1/open/health HTTP/1.1\r\n")[0] == 200, 30)
        yield Server(port, folder, agent, created["key"], process)
    finally:
        process.terminate()
        process.wait(timeout=20)
        shutil.rmtree(folder, ignore_errors=True)


def request(port: int, head: bytes, body: bytes = b"", *, framed: bool = False):  # type: ignore[no-untyped-def]
    """A raw HTTP/1.1 exchange: (status, headers, body). `head` is the request line plus any
    header lines; Host and Connection: close are added, and Content-Length unless the head
    frames the body itself (`framed`)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            message = head + b"Host: 127.0.0.1\r\nConnection: close\r\n"
            if body and not framed:
                message += f"Content-Length: {len(body)}\r\n".encode()
            sock.sendall(message + b"\r\n" + body)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except (ConnectionError, OSError):
        return 0, {}, b""
    raw = b"".join(chunks)
    top, _, payload = raw.partition(b"\r\n\r\n")
    lines = top.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
    }
    return status, headers, payload


def test_no_key_or_secret_reaches_any_log(server: Server) -> None:
    full = server.key
    key_id, secret = full.split("_")[1], full.split("_")[2][: keyformat.SECRET_LENGTH]
    me = b"GET /v1/open/keys/me HTTP/1.1\r\n"
    sent_ok = [
        request(server.port, me + f"X-API-Key: {full}\r\n".encode()),
        request(server.port, me + f"Authorization: Bearer {full}\r\n".encode()),
        request(server.port, me + f"X-API-Key: {key_id}\r\nX-API-Secret: {secret}\r\n".encode()),
    ]
    assert [status for status, _, _ in sent_ok] == [200, 200, 200]
    for name in [*sorted(QUERY_STRING_NAMES), "API_KEY", "x%2Dapi%2Dkey"]:
        status, _, _ = request(
            server.port, f"GET /v1/open/keys/me?{name}={full} HTTP/1.1\r\n".encode()
        )
        assert status == 400, name
    pair = f"GET /v1/open/keys/me?api_key={key_id}&api_secret={secret} HTTP/1.1\r\n"
    assert request(server.port, pair.encode())[0] == 400
    # The whole key in the path, a bad scheme, and a request line gunicorn itself refuses.
    request(server.port, f"GET /v1/open/{full} HTTP/1.1\r\n".encode())
    request(server.port, me + f"Authorization: Basic {full}\r\n".encode())
    request(server.port, f"GET /v1/open/keys/me?api_key={full} HTTP/1.1 x\r\n".encode())
    time.sleep(1)  # let gunicorn flush its logs

    logs = server.logs
    assert "/v1/open/keys/me" in logs, "the access log recorded nothing"
    assert "[REDACTED]" in logs
    assert secret not in logs, [line for line in logs.splitlines() if secret in line][:3]
    assert full not in logs
    assert f"a2v2_{key_id}_[REDACTED]" in logs  # the public key id stays, for tracing


def hostile_requests(server: Server) -> list[tuple[str, bytes, bytes, bool]]:
    """(label, head, body, framed): `framed` bodies are sent as they are, their framing (or
    its absence) written in the head."""
    auth = f"X-API-Key: {server.key}\r\n".encode()
    contacts = f"/v1/open/contacts/chatbots/{server.agent}".encode()
    upload = f"/v1/open/document-extraction/chatbots/{server.agent}".encode()

    def get(path: bytes, extra: bytes = b"") -> bytes:
        return b"GET " + path + b" HTTP/1.1\r\n" + auth + extra

    def post(path: bytes, content_type: str, extra: bytes = b"") -> bytes:
        return (
            b"POST "
            + path
            + b" HTTP/1.1\r\n"
            + auth
            + f"Content-Type: {content_type}\r\n".encode()
            + extra
        )

    fields = "".join(
        f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n' for i in range(1100)
    )
    json_type, multipart = "application/json", "multipart/form-data"
    email = b'{"email": "a@example.com"}'
    return [
        # Only the head: the answer must come from Content-Length, before any body is read.
        ("JSON body over 5 MB", post(contacts, json_type, b"Content-Length: 6000012\r\n"),
         b"", True),
        ("multipart without a boundary", post(upload, multipart), b"x", False),
        ("multipart with 1,100 fields", post(upload, multipart + "; boundary=b"),
         (fields + "--b--\r\n").encode(), False),
        ("upload sent as JSON", post(upload, json_type), b'{"file": "x"}', False),
        ("10 KB query string", get(contacts + b"?search=" + b"a" * 10_000), b"", False),
        ("100 KB query string", get(contacts + b"?search=" + b"a" * 100_000), b"", False),
        ("20 KB header", get(contacts, b"X-Padding: " + b"a" * 20_000 + b"\r\n"), b"", False),
        ("100 KB header", get(contacts, b"X-Padding: " + b"a" * 100_000 + b"\r\n"), b"", False),
        ("text/plain body", post(contacts, "text/plain"), email, False),
        ("form-encoded body", post(contacts, "application/x-www-form-urlencoded"),
         b"email=a@example.com", False),
        ("UTF-16 JSON", post(contacts, json_type), email.decode().encode("utf-16"), False),
        ("invalid JSON", post(contacts, json_type), b"{nope", False),
        ("NUL in JSON", post(contacts, json_type),
         b'{"name": "a\\u0000", "email": "a@example.com"}', False),
        ("NUL in the query string", get(contacts + b"?search=a%00"), b"", False),
        ("garbage request line", b"GARBAGE\r\n", b"", False),
        ("bad chunked body", post(contacts, json_type, b"Transfer-Encoding: chunked\r\n"),
         b"zz\r\n{}\r\n0\r\n\r\n", True),
        ("wrong method", b"PUT /v1/open/health HTTP/1.1\r\n", b"", False),
        ("unknown path", b"GET /v1/open/nothing HTTP/1.1\r\n", b"", False),
        ("no key", b"GET " + contacts + b" HTTP/1.1\r\n", b"", False),
    ]  # fmt: skip


def test_hostile_requests_are_answered_with_a_4xx_in_the_envelope(server: Server) -> None:
    problems = []
    for label, head, body, framed in hostile_requests(server):
        status, headers, payload = request(server.port, head, body, framed=framed)
        try:
            envelope = json.loads(payload)
        except ValueError:
            envelope = None
        fine = (
            400 <= status < 500
            and headers.get("content-type", "").startswith("application/json")
            and isinstance(envelope, dict)
            and envelope.get("success") is False
            and envelope.get("message")
            and isinstance(envelope.get("errors"), dict)
        )
        if not fine:
            problems.append(f"{label}: {status} {headers.get('content-type')} {payload[:120]!r}")
    assert not problems, "\n".join(problems)


def test_head_is_answered_like_get_through_gunicorn(server: Server) -> None:
    auth = f"X-API-Key: {server.key}\r\n".encode()
    for path in (b"/v1/open/health", b"/v1/open/keys/me"):
        get = request(server.port, b"GET " + path + b" HTTP/1.1\r\n" + auth)
        head = request(server.port, b"HEAD " + path + b" HTTP/1.1\r\n" + auth)
        assert head[0] == get[0] == 200
        assert head[2] == b""
        assert head[1]["content-length"] == str(len(get[2]))
