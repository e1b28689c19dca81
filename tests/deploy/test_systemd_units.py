"""The systemd units in deploy/systemd: parsed here always, and checked by
`systemd-analyze verify` where systemd is installed (its paths pointed at this checkout)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"


def parse(path: Path) -> dict[str, list[tuple[str, str]]]:
    """systemd's unit syntax: sections of `Key=value` lines, keys may repeat."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not Key=value"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [value for name, value in unit.get(section, []) if name == key]


def test_every_service_runs_this_app_from_its_environment_file() -> None:
    services = sorted(UNITS.glob("*.service"))
    assert {p.name for p in services} >= {
        "a2v2-web.service",
        "a2v2-worker@.service",
        "a2v2-prune.service",
        "a2v2-clearsessions.service",
        "a2v2-backup.service",
    }
    for path in services:
        unit = parse(path)
        assert values(unit, "Service", "User") == ["a2v2"], path.name
        assert values(unit, "Service", "WorkingDirectory") == ["/opt/a2v2"], path.name
        assert values(unit, "Service", "EnvironmentFile") == ["/etc/a2v2/a2v2.env"], path.name
        assert "ENV_FILE=" in values(unit, "Service", "Environment"), path.name
        assert values(unit, "Service", "NoNewPrivileges") == ["yes"], path.name
        (command,) = values(unit, "Service", "ExecStart")
        assert "/opt/a2v2/.venv/bin/" in command, path.name


def test_the_web_unit_reloads_gunicorn_gracefully() -> None:
    unit = parse(UNITS / "a2v2-web.service")
    assert values(unit, "Service", "ExecReload") == ["/bin/kill -s HUP $MAINPID"]
    assert values(unit, "Service", "Type") == ["notify"]  # gunicorn says when it is ready
    assert values(unit, "Service", "RestartPreventExitStatus") == ["2 3"]
    assert values(unit, "Install", "WantedBy") == ["multi-user.target"]


def test_the_worker_unit_lets_the_running_job_finish() -> None:
    unit = parse(UNITS / "a2v2-worker@.service")
    (command,) = values(unit, "Service", "ExecStart")
    assert command.endswith("manage.py $WORKER_COMMAND")
    assert values(unit, "Service", "KillMode") == ["mixed"]
    assert int(values(unit, "Service", "TimeoutStopSec")[0]) > 30  # --shutdown-timeout 30


@pytest.mark.parametrize("job", ["prune", "clearsessions", "backup"])
def test_each_schedule_has_a_timer_and_its_service(job: str) -> None:
    timer = parse(UNITS / f"a2v2-{job}.timer")
    service = parse(UNITS / f"a2v2-{job}.service")
    assert values(timer, "Timer", "OnCalendar")
    assert values(timer, "Timer", "Persistent") == ["true"]
    assert values(timer, "Install", "WantedBy") == ["timers.target"]
    assert values(service, "Service", "Type") == ["oneshot"]
    assert f"manage.py {job}" in values(service, "Service", "ExecStart")[0]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    """Paths pointed at this checkout and its interpreter, which verify checks exist."""
    venv_bin = Path(sys.executable).parent
    env_file = tmp_path / "a2v2.env"
    env_file.write_text("SECRET_KEY=x\n")
    for path in UNITS.iterdir():
        text = path.read_text().replace("/opt/a2v2/.venv/bin", str(venv_bin))
        text = text.replace("/opt/a2v2", str(ROOT)).replace("/etc/a2v2/a2v2.env", str(env_file))
        (tmp_path / path.name).write_text(text)
    names = [p.name for p in sorted(tmp_path.glob("*.service")) if "@" not in p.name]
    names += [p.name for p in sorted(tmp_path.glob("*.timer"))] + ["a2v2-worker@1.service"]
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 on unknown or malformed settings but says so: no output at all.
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
        done.stdout + done.stderr
    )


def test_the_web_unit_uses_the_projects_gunicorn_config() -> None:
    # Without it gunicorn's own logs would carry credentials and answer in HTML.
    unit = (UNITS / "a2v2-web.service").read_text()
    assert "-c python:a2v2.gunicorn_conf" in unit
