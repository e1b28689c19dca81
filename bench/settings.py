"""Settings for bench/auth_bench.py: production settings plus one unguarded baseline view."""

from __future__ import annotations

from a2v2.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
