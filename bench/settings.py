"""Settings for the benchmarks: production settings plus the trivial endpoints of
bench/urls.py (the key middleware swapped for its subclass that knows the keyless ping)."""

from __future__ import annotations

from a2v2.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
MIDDLEWARE = [
    "bench.urls.BenchApiKeyMiddleware" if path == "apikeys.middleware.ApiKeyMiddleware" else path
    for path in MIDDLEWARE  # noqa: F405
]
