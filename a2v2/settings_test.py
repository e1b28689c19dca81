"""Settings for the test suite: the same as production, minus slow hashes and real secrets."""

from __future__ import annotations

import os
import tempfile

from a2v2.settings import *  # noqa: F403

SECRET_KEY = "tests-only-secret-key-not-for-production-use-0123456789"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
MEDIA_ROOT = tempfile.mkdtemp(prefix="a2v2-test-media-")
TASKS = {
    "default": {
        "BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "extraction"],
    }
}
WHITENOISE_AUTOREFRESH = True
KEY_ENCRYPTION_KEYS = ["tests-only-key-encryption-key"]
APIKEY_HASH_KEYS = ["tests-only-apikey-hashing-key-0123456789abcdef"]
# The SQLite counters file of this run's own (tests/conftest.py empties it between tests).
RATELIMIT_SQLITE_PATH = os.path.join(tempfile.mkdtemp(prefix="a2v2-test-counters-"), "rl.sqlite3")
# A test database of this run's own, so that runs side by side do not drop each other's.
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": f"test_a2v2_{os.getpid()}"}  # noqa: F405
# In-process extraction keeps the suite fast; tests/extraction/test_jobs.py covers the child.
EXTRACTION_ISOLATE = False
