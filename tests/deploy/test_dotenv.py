"""bin/run's .env: fresh installs get every secret, and a .env written by an older bin/run
gains the API key hashing key it now needs (so `bin/run` keeps working after an update)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ensure_dotenv(project: Path) -> str:
    (project / "bin").mkdir(exist_ok=True)
    shutil.copy(ROOT / "bin" / "_setup.sh", project / "bin" / "_setup.sh")
    venv_bin = project / ".venv" / "bin"
    venv_bin.mkdir(parents=True, exist_ok=True)
    if not (venv_bin / "python").exists():
        (venv_bin / "python").symlink_to(sys.executable)
    done = subprocess.run(
        ["bash", "-c", f"source {project}/bin/_setup.sh && ensure_dotenv"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def settings_of(dotenv: Path) -> dict[str, str]:
    lines = [line for line in dotenv.read_text().splitlines() if "=" in line]
    return dict(line.split("=", 1) for line in lines if not line.startswith("#"))


def test_a_fresh_install_gets_every_secret(tmp_path: Path) -> None:
    ensure_dotenv(tmp_path)
    values = settings_of(tmp_path / ".env")
    assert {"SECRET_KEY", "KEY_ENCRYPTION_KEYS", "APIKEY_HASH_KEYS"} <= set(values)
    assert len(values["APIKEY_HASH_KEYS"]) >= 32
    assert oct((tmp_path / ".env").stat().st_mode)[-3:] == "600"


def test_an_older_env_gains_the_hashing_key_and_keeps_the_rest(tmp_path: Path) -> None:
    older = "SECRET_KEY=kept-secret\nKEY_ENCRYPTION_KEYS=kept-kek\nDEBUG=false"  # no newline
    (tmp_path / ".env").write_text(older)

    out = ensure_dotenv(tmp_path)

    assert "Adding APIKEY_HASH_KEYS" in out
    values = settings_of(tmp_path / ".env")
    assert values["SECRET_KEY"] == "kept-secret" and values["DEBUG"] == "false"
    assert len(values["APIKEY_HASH_KEYS"]) >= 32
    # Run again: nothing more is added.
    ensure_dotenv(tmp_path)
    assert (tmp_path / ".env").read_text().count("APIKEY_HASH_KEYS=") == 1
