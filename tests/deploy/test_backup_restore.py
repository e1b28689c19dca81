"""Backup → restore round trip, out of process as an operator runs it: a deployment with
keys, contacts, a contact file and an extracted document is backed up with `manage.py
backup`, restored with `manage.py restore` into an EMPTY database and MEDIA_ROOT, and every
key, contact, file and document is then checked through the Open API of the restored copy.
On SQLite (online backup API) and on PostgreSQL (pg_dump of an exported snapshot)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.services import require

ROOT = Path(__file__).resolve().parents[2]
PG_BASE = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")

SEED = r"""
import json, sys
import django
django.setup()
from django.test import Client
from accounts.models import Agent
from apikeys.models import ApiKey

agent = Agent.objects.get(public_id=sys.argv[1])
keys = {"all": ApiKey.issue(agent, name="Everything", contacts_create=True, contacts_read=True,
                            documents_create=True, documents_read=True,
                            rate_limit_per_minute=1000)[1],
        "read": ApiKey.issue(agent, name="Reader", contacts_read=True)[1]}
client = Client()
auth = {"x-api-key": keys["all"]}
contacts = f"/v1/open/contacts/chatbots/{agent.public_id}"
emails = []
for n in range(5):
    email = f"person{n}@example.com"
    response = client.post(contacts, {"externalReferenceId": f"crm-{n}", "name": f"Person {n}",
                           "email": email, "stage": "Lead"}, content_type="application/json",
                           headers=auth)
    assert response.status_code == 201, response.content
    emails.append(email)
first = client.get(f"/v1/open/contacts/crm-0/chatbots/{agent.public_id}", headers=auth)
contact_id = first.json()["data"]["id"]
note = b"Signed contract, page 1 of 1.\n"
from django.core.files.uploadedfile import SimpleUploadedFile
upload = client.post(f"/v1/open/contacts/mantisid/{contact_id}/files/chatbots/{agent.public_id}",
                     {"file": SimpleUploadedFile("contract.txt", note)}, headers=auth)
assert upload.status_code == 201, upload.content
invoice = SimpleUploadedFile("invoice.txt", b"Invoice number: INV-31\nTotal: 31.00\n")
document = client.post(f"/v1/open/document-extraction/chatbots/{agent.public_id}",
                       {"file": invoice}, headers=auth)
assert document.status_code == 202, document.content
print(json.dumps({"keys": keys, "emails": emails, "contactId": contact_id,
                  "fileId": upload.json()["data"]["id"], "note": note.decode(),
                  "documentId": document.json()["data"]["id"]}))
"""

CHECK = r"""
import json, sys
import django
django.setup()
from django.test import Client
from apikeys.models import ApiKey

agent_id, seeded = sys.argv[1], json.loads(sys.argv[2])
client = Client()
found = {}
for name, key in seeded["keys"].items():
    me = client.get("/v1/open/keys/me", headers={"x-api-key": key})
    found[name] = me.status_code
    # The stored copy still decrypts under the same KEY_ENCRYPTION_KEYS.
    assert ApiKey.objects.get(key_id=me.json()["data"]["keyId"]).reveal() == key
auth = {"x-api-key": seeded["keys"]["all"]}
listing = client.get(f"/v1/open/contacts/chatbots/{agent_id}?limit=100", headers=auth).json()
emails = sorted(contact["email"] for contact in listing["data"])
files = f"/v1/open/contacts/mantisid/{seeded['contactId']}/files"
download = client.get(f"{files}/{seeded['fileId']}/chatbots/{agent_id}", headers=auth)
body = b"".join(download.streaming_content) if download.streaming else download.content
document = client.get(f"/v1/open/document-extraction/{seeded['documentId']}/chatbots/{agent_id}",
                      headers=auth).json()["data"]
created = client.post(f"/v1/open/contacts/chatbots/{agent_id}",
                      {"name": "After restore", "email": "new@example.com"},
                      content_type="application/json", headers=auth)
print(json.dumps({"keys": found, "emails": emails, "file": body.decode(),
                  "document": [document["status"], document["pages"][0]["text"]],
                  "createAfterRestore": created.status_code}))
"""


def environment(tmp: Path, name: str, database_url: str) -> dict[str, str]:
    (tmp / name).mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "ENV_FILE": "",
        "SECRET_KEY": "backup-test-secret-" + "s" * 40,
        "KEY_ENCRYPTION_KEYS": "backup-test-kek-" + "k" * 30,
        "APIKEY_HASH_KEYS": "backup-test-hashing-key-" + "h" * 30,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(tmp / name / "media"),
        "ALLOWED_HOSTS": "testserver",
        "TASKS_BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
        "EXTRACTION_ISOLATE": "false",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "a2v2.settings",
    }


def run(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{argv[:3]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def round_trip(tmp: Path, source_url: str, target_url: str) -> None:
    source = environment(tmp, "source", source_url)
    target = environment(tmp, "target", target_url)
    run(source, "manage.py", "migrate", "--noinput", "-v", "0")
    run(source, "manage.py", "createcachetable")
    bootstrap = ["manage.py", "bootstrap", "--organization", "Acme", "--email", "owner@acme.test"]
    boot = json.loads(run(source, *bootstrap, "--json"))
    agent_id = boot["agent"]["id"]
    seeded = json.loads(run(source, "-c", SEED, agent_id).strip().splitlines()[-1])
    archive = tmp / "backups" / "a2v2.tar"

    out = run(source, "manage.py", "backup", "--output", str(archive))
    assert "Backup written to" in out and "5 contacts" in out and "2 file(s)" in out
    assert archive.stat().st_mode & 0o077 == 0  # readable by its owner only

    restored = json.loads(run(target, "manage.py", "restore", str(archive), "--json"))
    assert restored["counts"]["apiKeys"] == 2 and restored["keysNotDecryptable"] == 0
    # The restored copy serves: every key, contact, file and document, and new writes.
    checked = json.loads(
        run(target, "-c", CHECK, agent_id, json.dumps(seeded)).strip().splitlines()[-1]
    )
    assert checked["keys"] == {"all": 200, "read": 200}
    assert checked["emails"] == sorted(seeded["emails"])
    assert checked["file"] == seeded["note"]
    assert checked["document"][0] == "succeeded" and "INV-31" in checked["document"][1]
    assert checked["createAfterRestore"] == 201

    # Restoring again over the restored database is refused: it is not empty.
    again = subprocess.run(
        [sys.executable, "manage.py", "restore", str(archive)],
        cwd=ROOT, env=target, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode != 0 and "not empty" in again.stderr


@pytest.mark.slow
def test_backup_and_restore_round_trip_on_sqlite(tmp_path: Path) -> None:
    round_trip(
        tmp_path,
        f"sqlite:///{tmp_path / 'source' / 'a2v2.sqlite3'}",
        f"sqlite:///{tmp_path / 'target' / 'a2v2.sqlite3'}",
    )


@pytest.fixture
def postgres_databases() -> Iterator[tuple[str, str]]:
    import psycopg

    admin = PG_BASE.rsplit("/", 1)[0] + "/postgres"
    try:
        psycopg.connect(admin.replace("postgres://", "postgresql://"), connect_timeout=3).close()
    except Exception:
        require(False, f"PostgreSQL ({admin})")
    names = [f"a2v2_backup_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("source", "target")]
    with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as db:
        for name in names:
            db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield tuple(admin.rsplit("/", 1)[0] + f"/{name}" for name in names)  # type: ignore[misc]
    finally:
        with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as db:
            for name in names:
                db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_backup_and_restore_round_trip_on_postgresql(tmp_path: Path, postgres_databases) -> None:
    source_url, target_url = postgres_databases
    round_trip(tmp_path, source_url, target_url)
