"""Settings, read once from the environment (and an optional `.env` file).

Every variable is documented in README.md ("Configuration"). Invalid combinations are
reported by the system checks in `a2v2/checks.py`, never discovered at request time.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import environ
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Outside debug there is no fallback: a2v2.E001 reports a missing SECRET_KEY.
SECRET_KEY = env.str("SECRET_KEY", default="insecure-dev-only-key" if DEBUG else "")
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Deployed behind TLS: secure cookies, HSTS, redirect. Off for the local run command,
# which serves plain HTTP on loopback.
HTTPS = env.bool("HTTPS", default=False)

# Client IP: X-Forwarded-For is read only when REMOTE_ADDR is inside one of these CIDRs.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "ninja",
    "accounts",
    "apikeys",
    "contacts",
    "extraction",
]

# a2v2.ui_middleware.* are Django's (and django-htmx's) own middleware, run for every
# request but those under /v1/open, which carry a key and no cookie: no session, user,
# CSRF token, messages or htmx there (bench/middleware_cost.py measures what they cost).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "a2v2.middleware.OpenApiEnvelopeMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "a2v2.ui_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "a2v2.ui_middleware.CsrfViewMiddleware",
    "a2v2.ui_middleware.AuthenticationMiddleware",
    "a2v2.ui_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "a2v2.ui_middleware.HtmxMiddleware",
    "a2v2.ui_middleware.HtmxLoginRedirectMiddleware",
    "apikeys.middleware.ApiKeyMiddleware",
]

ROOT_URLCONF = "a2v2.urls"
WSGI_APPLICATION = "a2v2.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'a2v2.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server and the task worker use the file at the same time.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
# Behind PgBouncer in transaction mode: no server-side cursors (Django's advice) and no
# prepared statement for the API key lookup (apikeys/lookup.py).
if env.bool("PGBOUNCER_TRANSACTION_POOLING", default=False):
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# Persistent connections on either engine: opening one per request (Django's default)
# cost the Open API more than its key check (bench/auth_bench.py's CPU per request).
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The default cache lives in the database so that every process shares it; Redis replaces
# it in scale-out (CACHE_URL=redis://…), and then also holds the rate-limit counters.
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://a2v2_cache")}

# Django's Tasks framework: the database queue by default (django-tasks-db, worker:
# `manage.py db_worker`). TASKS_BACKEND=redis selects Redis streams for scale-out
# (django-tasks-redis, worker: `manage.py run_redis_tasks --continuous`), on TASKS_REDIS_URL
# (default: CACHE_URL when it is Redis). Any other value is a backend's dotted path.
TASKS_BACKEND = env.str("TASKS_BACKEND", default="database")
TASKS_BACKEND = {
    "database": "django_tasks_db.DatabaseBackend",
    "redis": "django_tasks_redis.RedisTaskBackend",
}.get(TASKS_BACKEND, TASKS_BACKEND)
TASKS = {
    "default": {
        "BACKEND": TASKS_BACKEND,
        "QUEUES": ["default", "extraction"],
    }
}
if TASKS_BACKEND.startswith("django_tasks_redis."):
    INSTALLED_APPS.append("django_tasks_redis")
    _cache_url = env.str("CACHE_URL", default="")
    TASKS["default"]["OPTIONS"] = {
        "REDIS_URL": env.str(
            "TASKS_REDIS_URL",
            default=_cache_url if _cache_url.startswith("redis") else "redis://127.0.0.1:6379/1",
        ),
        "REDIS_KEY_PREFIX": env.str("TASKS_REDIS_PREFIX", default="a2v2_tasks"),
        # A message a dead worker held is handed to another worker after this long; it
        # must outlast the longest job (EXTRACTION_LEASE_SECONDS, set below, by default).
        "REDIS_CLAIM_TIMEOUT": env.int("TASKS_REDIS_CLAIM_TIMEOUT", default=0) or None,
        "REDIS_SOCKET_CONNECT_TIMEOUT": 5,
        "REDIS_HEALTH_CHECK_INTERVAL": 30,
    }

# API keys (apikeys/). Key-encryption keys: the first encrypts, all decrypt; rotate with
# `manage.py rotate_key_encryption`. Show-once keeps no encrypted copy at all.
APIKEY_SHOW_ONCE = env.bool("APIKEY_SHOW_ONCE", default=False)
KEY_ENCRYPTION_KEYS = env.list("KEY_ENCRYPTION_KEYS", default=[SECRET_KEY] if DEBUG else [])
# Secrets are verified with HMAC-SHA256 under these hashing keys (apikeys/crypto.py): the
# first hashes, all verify; rotate with `manage.py rotate_key_hashes`. Required outside
# debug (a2v2.E009); in debug one is derived from SECRET_KEY.
APIKEY_HASH_KEYS = env.list(
    "APIKEY_HASH_KEYS",
    default=[hashlib.sha256(b"a2v2 dev hashing key\x00" + SECRET_KEY.encode()).hexdigest()]
    if DEBUG
    else [],
)
# Failed authentications allowed per client address per minute (apikeys/verification.py).
APIKEY_FAILURES_PER_CLIENT = env.int("APIKEY_FAILURES_PER_CLIENT", default=120)
# When the Redis cache (rate-limit counters, failure budgets) is unreachable: "closed"
# refuses Open API calls with 503, "open" serves them uncounted. docs/deploy.md explains.
RATELIMIT_ON_CACHE_FAILURE = env.str("RATELIMIT_ON_CACHE_FAILURE", default="closed").lower()
# Without Redis, on SQLite, the counters live in a WAL SQLite file of their own, so they
# never wait for the main database's writer (apikeys/counters.py). Empty: ratelimit.sqlite3
# beside the main database file.
RATELIMIT_SQLITE_PATH = env.str("RATELIMIT_SQLITE_PATH", default="")
APIKEY_LAST_USED_INTERVAL = 60

# Contacts (contacts/). Mobile numbers without a +country prefix are read in this region
# (ISO 3166 code; `contacts.E001` when unknown). Files larger than the cap are refused (413).
CONTACTS_DEFAULT_REGION = env.str("CONTACTS_DEFAULT_REGION", default="US").upper()
CONTACT_FILE_MAX_BYTES = env.int("CONTACT_FILE_MAX_BYTES", default=10 * 1024 * 1024)
# Contact indexes carry INCLUDE columns for PostgreSQL's index-only scans; SQLite just
# ignores them, which is all this warning says.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# Document extraction (extraction/). Caps are enforced at upload and again in the job.
EXTRACTION_LIMITS = {
    "max_bytes": env.int("EXTRACTION_MAX_BYTES", default=20 * 1024 * 1024),
    "max_pages": env.int("EXTRACTION_MAX_PAGES", default=200),
    "max_pixels": env.int("EXTRACTION_MAX_PIXELS", default=40_000_000),
    "timeout_seconds": env.float("EXTRACTION_TIMEOUT_SECONDS", default=120.0),
}
# A job still "processing" this long after it started is taken to have lost its worker.
EXTRACTION_LEASE_SECONDS = env.int(
    "EXTRACTION_LEASE_SECONDS", default=int(EXTRACTION_LIMITS["timeout_seconds"] * 2 + 60)
)
if "OPTIONS" in TASKS["default"] and TASKS["default"]["OPTIONS"]["REDIS_CLAIM_TIMEOUT"] is None:
    TASKS["default"]["OPTIONS"]["REDIS_CLAIM_TIMEOUT"] = EXTRACTION_LEASE_SECONDS + 30
EXTRACTION_MAX_ATTEMPTS = env.int("EXTRACTION_MAX_ATTEMPTS", default=3)
# Run each job in a child process killed at the time limit (costs ~1 s of start-up a job).
EXTRACTION_ISOLATE = env.bool("EXTRACTION_ISOLATE", default=True)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # larger uploads spool to a temporary file
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024  # non-file request bodies

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Security headers. CSP is strict: scripts only from us or with this response's nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if TRUSTED_PROXIES:
    # Only a trusted proxy can tell us the original scheme.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^v1/open/health$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Request lines carry no credentials (keys never go in a URL), but keep them quiet.
        "django.request": {"level": "ERROR"},
    },
}
