"""Does "Forgot your password?" answer faster for an address without an account?

Times POST /password-reset/ (Django's test client, in process, on a temporary SQLite
database) for an address that has an account and one that has none, with e-mail sent over
SMTP to a sink on loopback that this script runs (a real server is slower still). Two
ways, in the same run:

  queued  the default: the page queues the e-mail and audit events for the task worker
          (the database queue, as bin/run)
  inline  the same work done inside the request (the immediate task backend), as a plain
          Django PasswordResetView does

Medians over --requests requests each. Usage:

  .venv/bin/python bench/reset_timing.py [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import socketserver
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


ADDRESSES = ("ada@example.com", "nobody@example.com")  # an account, and none


class SmtpSink(socketserver.StreamRequestHandler):
    """Accepts every message and keeps none (enough SMTP for Django's backend)."""

    def handle(self) -> None:
        self.wfile.write(b"220 sink\r\n")
        in_data = False
        for line in self.rfile:
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    self.wfile.write(b"250 ok\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                in_data = True
                self.wfile.write(b"354 go on\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def setup() -> int:
    sink = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpSink)
    sink.daemon_threads = True
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    folder = Path(tempfile.mkdtemp(prefix="a2v2-reset-timing-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "a2v2.settings",
            "ENV_FILE": "",
            "DEBUG": "false",
            "SECRET_KEY": "bench-secret-key-" + "x" * 40,
            "KEY_ENCRYPTION_KEYS": "bench-kek",
            "APIKEY_HASH_KEYS": "bench-apikey-hash-key-" + "y" * 32,
            "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
            "ALLOWED_HOSTS": "testserver",
            "LOG_LEVEL": "ERROR",
            "EMAIL_BACKEND": "smtp",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(sink.server_address[1]),
            "EMAIL_USE_TLS": "false",
            "PASSWORD_RESETS_PER_ADDRESS": "100000000",
            "PASSWORD_RESETS_PER_EMAIL": "100000000",
        }
    )
    import logging
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    logging.getLogger("django.tasks").setLevel(logging.WARNING)  # a line per immediate task
    from django.core.management import call_command

    from accounts.models import Organization, User

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    Organization.create_with_owner("Bench", User.objects.create_user("ada@example.com", "x"))
    return sink.server_address[1]


def medians_ms(emails: tuple[str, str], requests: int) -> tuple[float, float]:
    """Requests for the two addresses in turn (so that a busy moment hits both)."""
    from django.test import Client

    client = Client()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(requests):
        for email, samples in zip(emails, times, strict=True):
            started = time.perf_counter()
            response = client.post("/password-reset/", {"email": email})
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 302, response.status_code
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    setup()
    from django.conf import settings
    from django.test import override_settings

    immediate = {
        "default": {
            "BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default", "extraction"],
        }
    }
    print(f"POST /password-reset/, median of {args.requests} each, SMTP sink on loopback")
    for name, tasks in (("queued", settings.TASKS), ("inline", immediate)):
        with override_settings(TASKS=tasks):
            medians_ms(ADDRESSES, 10)  # warm up
            known, unknown = medians_ms(ADDRESSES, args.requests)
        print(
            f"  {name:6}  account {known:6.2f} ms   no account {unknown:6.2f} ms   "
            f"difference {known - unknown:+6.2f} ms"
        )


if __name__ == "__main__":
    main()
