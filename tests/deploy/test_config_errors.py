"""Configuration mistakes read as one line naming the setting and what is accepted, with a
non-zero exit, never a traceback. Each runs `manage.py` in a subprocess with a clean
environment (no `.env`, no inherited variables), as an operator's first try would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "SECRET_KEY": "s" * 64,
    "KEY_ENCRYPTION_KEYS": "k" * 40,
    "APIKEY_HASH_KEYS": "h" * 40,
}


def manage(tmp_path: Path, *argv: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ENV_FILE": "",  # never the developer's own .env
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **variables,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_missing_secret_key_is_reported_by_check_as_e001(tmp_path: Path) -> None:
    done = manage(tmp_path, "check", KEY_ENCRYPTION_KEYS="k" * 40)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "(a2v2.E001) SECRET_KEY is not set." in done.stderr


@pytest.mark.parametrize("argv", [["migrate"], ["apikey", "list"], ["prune", "--dry-run"]])
def test_missing_secret_key_is_one_line_on_other_commands(tmp_path: Path, argv) -> None:
    done = manage(tmp_path, *argv, KEY_ENCRYPTION_KEYS="k" * 40)
    assert_one_line(done, "SECRET_KEY is not set", "a2v2.E001")


def test_a_misspelt_task_backend_is_one_line(tmp_path: Path) -> None:
    done = manage(tmp_path, "check", TASKS_BACKEND="reddis", **GOOD)
    assert_one_line(done, "TASKS_BACKEND", "'reddis'", "database", "redis")


@pytest.mark.parametrize(
    "url", ["postgress://a2v2:hunter2@db:5432/a2v2", "mysql://db/a2v2", "a2v2.sqlite3"]
)
def test_a_bad_database_url_is_one_line(tmp_path: Path, url: str) -> None:
    done = manage(tmp_path, "migrate", **(GOOD | {"DATABASE_URL": url}))
    assert_one_line(done, "DATABASE_URL", "postgres://", "sqlite:///")
    assert "hunter2" not in done.stderr  # the password is not echoed


@pytest.mark.parametrize("url", ["redi://cache:6379/0", "memcache://cache:11211"])
def test_a_bad_cache_url_is_one_line(tmp_path: Path, url: str) -> None:
    done = manage(tmp_path, "check", CACHE_URL=url, **GOOD)
    assert_one_line(done, "CACHE_URL", "redis://", "dbcache://")


def test_an_unknown_permission_is_one_line(tmp_path: Path) -> None:
    argv = ["apikey", "create", "--agent", "a" * 24, "--name", "CRM"]
    done = manage(tmp_path, *argv, "--permission", "contacts:admin", **GOOD)
    assert_one_line(done, "--permission", "'contacts:admin'", "contacts:read")
    assert done.returncode == 2


def test_gunicorn_without_secret_key_stops_with_one_line(tmp_path: Path) -> None:
    """A worker that can never boot stops gunicorn (exit 3) instead of a restart loop."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ENV_FILE": ""}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    done = subprocess.run(
        [gunicorn, "a2v2.wsgi", "--bind", "127.0.0.1:0", "--workers", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    ours = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert ours and all("SECRET_KEY is not set" in line for line in ours)
    assert "Traceback" not in done.stderr
