"""Backups of what only this deployment has: the database and the uploads it refers to.

One archive (a tar file) holds a consistent snapshot:

- `database.dump` (PostgreSQL, `pg_dump -Fc` of an exported snapshot) or `database.sqlite3`
  (SQLite's online backup API): taken while web and workers keep running;
- `media/…`: every file the snapshot's rows refer to (documents, contact files), read in
  the same snapshot, so the archive never refers to a file it lacks;
- `manifest.json`: version, engine, row counts, and each file's size and SHA-256, which
  `restore` checks.

Not in it, on purpose: SECRET_KEY and KEY_ENCRYPTION_KEYS (keep them with your other
secrets: without the key-encryption key no stored API key can be copied again), Redis (the
cache rebuilds itself; queued jobs are rows, sent again by the workers' sweep), and
contact imports previewed but not confirmed. docs/deploy.md, "Backup" and "Restore".
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, models

from a2v2.version import version
from apikeys import crypto
from apikeys.models import ApiKey

FORMAT = 1
COUNTED = {
    "organizations": "accounts.Organization",
    "users": "accounts.User",
    "agents": "accounts.Agent",
    "apiKeys": "apikeys.ApiKey",
    "contacts": "contacts.Contact",
    "contactFiles": "contacts.ContactFile",
    "documents": "extraction.Document",
    "auditEvents": "accounts.AuditEvent",
}


class BackupError(Exception):
    """One line saying what went wrong and what to do."""


@dataclass(frozen=True)
class FileColumn:
    table: str
    column: str


def file_columns() -> list[FileColumn]:
    """Every FileField of every model: the columns that name files under MEDIA_ROOT."""
    columns = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.FileField):
                columns.append(FileColumn(model._meta.db_table, field.column))
    return columns


def engine() -> str:
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise BackupError(f"Backups support PostgreSQL and SQLite, not {vendor}.")
    return vendor


def counted_tables() -> dict[str, str]:
    return {name: apps.get_model(label)._meta.db_table for name, label in COUNTED.items()}


def _snapshot_facts(cursor: Any) -> tuple[list[str], dict[str, int]]:
    """File names and row counts, read through a cursor that sees the snapshot."""
    names: set[str] = set()
    for column in file_columns():
        cursor.execute(
            f'SELECT "{column.column}" FROM "{column.table}" WHERE "{column.column}" <> \'\''
        )
        names |= {row[0] for row in cursor.fetchall()}
    counts = {}
    for name, table in counted_tables().items():
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
        counts[name] = int(cursor.fetchone()[0])
    return sorted(names), counts


# --- taking a backup ----------------------------------------------------------------------


def create_backup(output: Path) -> dict[str, Any]:
    """Write the archive to `output` (atomically); returns its manifest."""
    kind = engine()
    with tempfile.TemporaryDirectory(prefix="a2v2-backup-") as folder:
        work = Path(folder)
        if kind == "sqlite":
            database_file = "database.sqlite3"
            names, counts = _sqlite_snapshot(work / database_file)
        else:
            database_file = "database.dump"
            names, counts = _postgres_snapshot(work / database_file)
        files, missing = _copy_media(names, work / "media")
        manifest = {
            "format": FORMAT,
            "application": "a2v2",
            "version": version(),
            "createdAt": datetime.now(UTC).isoformat(timespec="seconds"),
            "engine": kind,
            "database": database_file,
            "counts": counts,
            "files": files,
            "missingFiles": missing,
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        _write_archive(work, output)
    return manifest


def _sqlite_snapshot(target: Path) -> tuple[list[str], dict[str, int]]:
    connection.ensure_connection()
    source = connection.connection
    with sqlite3.connect(target) as copy:
        source.backup(copy)  # SQLite's online backup: a consistent copy while others write
        cursor = copy.cursor()
        facts = _snapshot_facts(cursor)
    return facts


def _postgres_snapshot(target: Path) -> tuple[list[str], dict[str, int]]:
    """pg_dump reads the snapshot this transaction exports, and the file names are read in
    the same transaction: the dump and the media list describe the same moment."""
    import psycopg

    with psycopg.connect(**_psycopg_params()) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        with conn.cursor() as cursor:
            facts = _snapshot_facts(cursor)
        dump = ["pg_dump", "--format=custom", f"--snapshot={snapshot}", "--no-owner"]
        _run([*dump, "--file", str(target), *_pg_args()], "pg_dump")
        conn.execute("ROLLBACK")
    return facts


def _copy_media(names: list[str], target: Path) -> tuple[list[dict[str, Any]], list[str]]:
    root = Path(settings.MEDIA_ROOT)
    files, missing = [], []
    for name in names:
        source = _inside(root, name)
        if not source.is_file():
            missing.append(name)  # referenced, but not on disk (deleted meanwhile, or lost)
            continue
        destination = _inside(target, name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        files.append(
            {"name": name, "size": destination.stat().st_size, "sha256": _sha256(destination)}
        )
    return files, missing


def _write_archive(folder: Path, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with tarfile.open(partial, "w") as archive:
        for path in sorted(folder.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    partial.chmod(0o600)  # password hashes and encrypted keys: not for other users
    partial.replace(output)


# --- restoring ----------------------------------------------------------------------------


def read_manifest(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile("manifest.json")
            if member is None:
                raise KeyError("manifest.json")
            manifest = json.loads(member.read())
    except (OSError, tarfile.TarError, KeyError, ValueError) as error:
        raise BackupError(f"{archive} is not an A2V2 backup ({error}).") from None
    if manifest.get("application") != "a2v2" or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} is not an A2V2 backup of format {FORMAT}.")
    return manifest


def restore_backup(archive: Path) -> dict[str, Any]:
    """Restore into an empty database and MEDIA_ROOT; returns what was checked."""
    manifest = read_manifest(archive)
    kind = engine()
    if manifest["engine"] != kind:
        raise BackupError(
            f"This backup is of a {manifest['engine']} database and DATABASE_URL points at "
            f"{kind}: restore into the same kind of database."
        )
    _require_empty_database()
    with tempfile.TemporaryDirectory(prefix="a2v2-restore-") as folder:
        work = Path(folder)
        with tarfile.open(archive) as tar:
            tar.extractall(work, filter="data")
        if kind == "sqlite":
            _restore_sqlite(work / manifest["database"])
        else:
            restore = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error"]
            restore += ["--single-transaction", "--dbname", _pg_dbname()]
            dump = str(work / manifest["database"])
            _run([*restore, *_pg_connection_args(), dump], "pg_restore")
        _restore_media(work / "media", manifest["files"])
    _tell_running_processes()
    return _verify(manifest)


def _tell_running_processes() -> None:
    """Keys arrived around the ORM: processes that keep copies of keys (apikeys/records.py)
    must read every key again, including ids they had found unknown."""
    from apikeys import counters, records

    if records.enabled():
        try:
            records.store().renew_all()
        except counters.CountersUnavailable:
            raise BackupError(
                "Restored, but Redis is unreachable: restart the web processes so they read "
                "every API key again."
            ) from None


def _require_empty_database() -> None:
    ours = {model._meta.db_table for model in apps.get_models()}
    present = ours & set(connection.introspection.table_names())
    if present:
        name = settings.DATABASES["default"]["NAME"]
        raise BackupError(
            f"The database {name} is not empty ({len(present)} of our tables exist): restore "
            "into a new, empty database (createdb …, or a SQLite path that does not exist yet)."
        )


def _restore_sqlite(dump: Path) -> None:
    connection.close()
    target = Path(settings.DATABASES["default"]["NAME"])
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(dump) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    connection.close()


def _restore_media(folder: Path, files: list[dict[str, Any]]) -> None:
    root = Path(settings.MEDIA_ROOT)
    for entry in files:
        source, destination = _inside(folder, entry["name"]), _inside(root, entry["name"])
        if destination.exists() and _sha256(destination) != entry["sha256"]:
            raise BackupError(
                f"{destination} exists with other content: restore into an empty MEDIA_ROOT."
            )
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)


def _verify(manifest: dict[str, Any]) -> dict[str, Any]:
    """Row counts as in the manifest, every file whole, and the stored keys decryptable."""
    with connection.cursor() as cursor:
        _, counts = _snapshot_facts(cursor)
    if counts != manifest["counts"]:
        raise BackupError(
            f"Restored rows differ from the backup: {counts} != {manifest['counts']}."
        )
    root = Path(settings.MEDIA_ROOT)
    for entry in manifest["files"]:
        if _sha256(_inside(root, entry["name"])) != entry["sha256"]:
            raise BackupError(f"{entry['name']} was not restored whole.")
    undecryptable = 0
    for token in ApiKey.objects.exclude(encrypted_key="").values_list("encrypted_key", flat=True):
        try:
            crypto.decrypt_key(token)
        except crypto.UndecryptableKey:
            undecryptable += 1
    return {
        "version": manifest["version"],
        "createdAt": manifest["createdAt"],
        "counts": counts,
        "files": len(manifest["files"]),
        "keysNotDecryptable": undecryptable,
    }


# --- helpers ------------------------------------------------------------------------------


def _inside(root: Path, name: str) -> Path:
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise BackupError(f"Refusing a file name outside its folder: {name!r}.")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _db() -> dict[str, Any]:
    return settings.DATABASES["default"]


def _psycopg_params() -> dict[str, Any]:
    db = _db()
    params = {"dbname": db["NAME"], "user": db.get("USER") or None}
    params |= {"password": db.get("PASSWORD") or None, "host": db.get("HOST") or None}
    params |= {"port": db.get("PORT") or None, "autocommit": True}
    return {name: value for name, value in params.items() if value is not None}


def _pg_connection_args() -> list[str]:
    db = _db()
    args = []
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            args += [flag, str(db[key])]
    return args


def _pg_dbname() -> str:
    return str(_db()["NAME"])


def _pg_args() -> list[str]:
    return [*_pg_connection_args(), "--dbname", _pg_dbname()]


def _run(command: list[str], tool: str) -> None:
    env = os.environ | ({"PGPASSWORD": str(_db()["PASSWORD"])} if _db().get("PASSWORD") else {})
    if shutil.which(command[0]) is None:
        raise BackupError(f"{tool} is not installed (apt-get install postgresql-client).")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BackupError(f"{tool} failed: {last}")


def default_output() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(settings.BASE_DIR) / "var" / "backups" / f"a2v2-{stamp}.tar"


def describe_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{value} {name}" for name, value in counts.items())
