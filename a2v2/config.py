"""Reading the settings that must be right before Django can even start.

A wrong value here (an unknown URL scheme, a misspelt task backend) would otherwise surface
as a long traceback from deep inside Django. Each reader raises `ConfigError` with one line
that names the variable and says what is accepted; `manage.py` and `a2v2/wsgi.py` print that
line and exit non-zero (`one_line_errors`). Combinations that Django can start with are
reported by the system checks instead (`a2v2/checks.py` and each app's `checks.py`).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

DATABASE_SCHEMES = {"postgres", "postgresql", "pgsql", "psql", "sqlite"}
CACHE_SCHEMES = {"redis", "rediss", "dbcache", "locmemcache"}
TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "redis": "django_tasks_redis.RedisTaskBackend",
}
# Commands that must run even when SECRET_KEY is missing: `check` reports it as a2v2.E001.
COMMANDS_WITHOUT_SECRET_KEY = {
    "check",
    "help",
    "version",
    "showrelease",
    "--help",
    "-h",
    "--version",
}
EXIT_CONFIG_ERROR = 2


class ConfigError(Exception):
    """A setting that cannot work; the message is one line naming it and what is accepted."""


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.lower() if "://" in url else ""


def database(env: environ.Env, default: str) -> dict[str, Any]:
    url = env.str("DATABASE_URL", default=default)
    if _scheme(url) not in DATABASE_SCHEMES:
        raise ConfigError(
            f"DATABASE_URL {_shown(url)} is not supported: use "
            "postgres://USER:PASSWORD@HOST:5432/NAME or sqlite:////absolute/path.sqlite3."
        )
    try:
        return env.db_url_config(url)
    except (ImproperlyConfigured, KeyError, ValueError) as error:
        raise ConfigError(f"DATABASE_URL {_shown(url)} cannot be read ({error}).") from None


def cache(env: environ.Env, default: str) -> dict[str, Any]:
    url = env.str("CACHE_URL", default=default)
    if _scheme(url) not in CACHE_SCHEMES:
        raise ConfigError(
            f"CACHE_URL {_shown(url)} is not supported: use redis://HOST:6379/0 "
            "(or rediss:// with TLS) or dbcache://TABLE (the default, dbcache://a2v2_cache)."
        )
    try:
        return env.cache_url_config(url)
    except (ImproperlyConfigured, KeyError, ValueError) as error:
        raise ConfigError(f"CACHE_URL {_shown(url)} cannot be read ({error}).") from None


def task_backend(value: str) -> str:
    """`database`, `redis`, or the dotted path of an importable backend class."""
    path = TASK_BACKENDS.get(value.strip().lower(), value.strip())
    module, _, name = path.rpartition(".")
    if module and name and _importable(module):
        return path
    raise ConfigError(
        f"TASKS_BACKEND {value!r} is not a task backend: use database (the default), redis, "
        "or a backend's dotted path such as django.tasks.backends.immediate.ImmediateBackend."
    )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _shown(url: str) -> str:
    """The URL without its password, for an error message."""
    parts = urlsplit(url)
    if parts.password:
        url = url.replace(f":{parts.password}@", ":***@", 1)
    return repr(url)


def require_secret_key(argv: list[str]) -> None:
    """Every command but `check` (which reports a2v2.E001) needs a SECRET_KEY."""
    from django.conf import settings
    from django.core.management.base import CommandParser, handle_default_options

    # Honour --settings / --pythonpath the way Django will, before settings are read.
    parser = CommandParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--settings")
    parser.add_argument("--pythonpath")
    known, _ = parser.parse_known_args(argv[2:])
    handle_default_options(known)
    command = argv[1] if len(argv) > 1 else "help"
    if command in COMMANDS_WITHOUT_SECRET_KEY or settings.DEBUG:
        return
    try:
        configured = bool(settings.SECRET_KEY)
    except ImproperlyConfigured:
        configured = False
    if not configured:
        raise ConfigError(
            "SECRET_KEY is not set (a2v2.E001): set it to 50+ random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(64))' (or DEBUG=true)."
        )


@contextmanager
def one_line_errors(exit_code: int = EXIT_CONFIG_ERROR) -> Iterator[None]:
    """Configuration mistakes end the process with one line on stderr and `exit_code`."""
    try:
        yield
    except (ConfigError, ImproperlyConfigured) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        sys.stderr.write(f"error: {message}\n")
        sys.exit(exit_code)
