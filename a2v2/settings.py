"""Settings, read once from the environment (and an optional `.env` file).

Every variable is documented in README.md ("Configuration"). Invalid combinations are
reported by the system checks (`a2v2/checks.py`, each app's `checks.py`), never discovered
at request time.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.utils.csp import CSP

from a2v2 import config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# ENV_FILE names another file (a systemd EnvironmentFile, say); empty reads none.
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE:
    environ.Env.read_env(ENV_FILE, overwrite=False)

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
    "ninja",
    "a2v2",
    "accounts",
    "apikeys",
    "contacts",
    # Before django_tasks_db (and django_tasks_redis, appended below): extraction's own
    # db_worker and run_redis_tasks commands wrap theirs with the job sweep and heartbeat.
    "extraction",
    "django_tasks_db",
]

# a2v2.ui_middleware.* are Django's (and django-htmx's) own middleware, run for every
# request but those under /v1/open, which carry a key and no cookie: no session, user,
# CSRF token, messages or htmx there (bench/middleware_cost.py measures what they cost).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "a2v2.middleware.OpenApiEnvelopeMiddleware",
    # Before the UI's layers: its counters' round trip travels while they run (see there).
    "apikeys.middleware.ApiKeyMiddleware",
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

# config.* raise a one-line ConfigError naming the variable when a URL cannot work.
DATABASES = {
    "default": config.database(env, default=f"sqlite:///{BASE_DIR / 'var' / 'a2v2.sqlite3'}")
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
CACHES = {"default": config.cache(env, default="dbcache://a2v2_cache")}

# Django's Tasks framework: the database queue by default (django-tasks-db, worker:
# `manage.py db_worker`). TASKS_BACKEND=redis selects Redis streams for scale-out
# (django-tasks-redis, worker: `manage.py run_redis_tasks --continuous`), on TASKS_REDIS_URL
# (default: CACHE_URL when it is Redis). Any other value is a backend's dotted path.
TASKS_BACKEND = config.task_backend(env.str("TASKS_BACKEND", default="database"))
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
# Usage per key (apikeys/usage.py): counted in each process, written at most this often;
# kept this many days (`manage.py prune`). Off: nothing counted (the bench compares).
APIKEY_USAGE_ENABLED = env.bool("APIKEY_USAGE_ENABLED", default=True)
APIKEY_USAGE_FLUSH_SECONDS = env.int("APIKEY_USAGE_FLUSH_SECONDS", default=60)
APIKEY_USAGE_RETENTION_DAYS = env.int("APIKEY_USAGE_RETENTION_DAYS", default=90)
# Refused calls of one key within one hour that make a "key.refused_spike" webhook event
# (once per key and hour); 0 turns the event off.
APIKEY_REFUSED_SPIKE_CALLS = env.int("APIKEY_REFUSED_SPIKE_CALLS", default=100)

# Webhooks on key events (apikeys/webhooks.py; README "Webhooks"). Endpoints must be https
# and resolve to public addresses only, checked when saved and again at each delivery (SSRF);
# WEBHOOKS_ALLOW_PRIVATE_ADDRESSES lifts both, for a receiver on the same network (and tests).
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", default=False)
# A failed delivery is tried again after WEBHOOK_RETRY_BASE_SECONDS, doubling each time, up to
# WEBHOOK_MAX_ATTEMPTS attempts in all (8 and 30 s: the last try about an hour after the first).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=30)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)

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
# Jobs (extraction/tasks.py; docs/deploy.md "Task workers"). A running job renews its
# lease every EXTRACTION_HEARTBEAT_SECONDS, so the lease can be short: a job whose worker
# died is queued again by the next sweep once EXTRACTION_LEASE_SECONDS pass without a
# renewal. Every worker sweeps every EXTRACTION_SWEEP_SECONDS, idle or not (it also
# reports itself alive then), and sends again a queued job whose message the backend lost
# once EXTRACTION_RESEND_AFTER_SECONDS have passed since it was sent.
EXTRACTION_LEASE_SECONDS = env.int("EXTRACTION_LEASE_SECONDS", default=20)
EXTRACTION_HEARTBEAT_SECONDS = env.float("EXTRACTION_HEARTBEAT_SECONDS", default=5.0)
EXTRACTION_SWEEP_SECONDS = env.float("EXTRACTION_SWEEP_SECONDS", default=5.0)
EXTRACTION_RESEND_AFTER_SECONDS = env.int("EXTRACTION_RESEND_AFTER_SECONDS", default=30)
# Health and metrics count a worker as alive while its heartbeat is this recent.
WORKER_SEEN_SECONDS = env.float("WORKER_SEEN_SECONDS", default=EXTRACTION_SWEEP_SECONDS * 4)
if "OPTIONS" in TASKS["default"] and TASKS["default"]["OPTIONS"]["REDIS_CLAIM_TIMEOUT"] is None:
    # The row decides who runs a job, so a message reclaimed early is merely skipped.
    TASKS["default"]["OPTIONS"]["REDIS_CLAIM_TIMEOUT"] = EXTRACTION_LEASE_SECONDS + 30
EXTRACTION_MAX_ATTEMPTS = env.int("EXTRACTION_MAX_ATTEMPTS", default=3)
# Run each job in a child process killed at the time limit (costs ~1 s of start-up a job).
EXTRACTION_ISOLATE = env.bool("EXTRACTION_ISOLATE", default=True)
# Where `manage.py extraction_train` writes a model fitted here (e.g. with the workspace's
# corrections) and where the pipeline reads it; unset or empty: the model shipped in
# extraction/pipeline/data/receipt_model. The pipeline reads the same environment variable.
EXTRACTION_MODEL_DIR = env.str("EXTRACTION_MODEL_DIR", default="")
# How the pipeline reads (extraction/pipeline/config.py; checked by extraction/checks.py).
EXTRACTION_OCR_ENGINE = env.str("EXTRACTION_OCR_ENGINE", default="auto").lower()
EXTRACTION_OCR_THREADS = env.int("EXTRACTION_OCR_THREADS", default=0)  # 0: onnxruntime's choice
EXTRACTION_OCR_MAX_SIDE = env.int("EXTRACTION_OCR_MAX_SIDE", default=0)  # 0: the engine's own
# Longest side of the copy the text detector searches (lines are read from the full page).
EXTRACTION_OCR_DETECT_SIDE = env.int("EXTRACTION_OCR_DETECT_SIDE", default=0)  # 0: full size
EXTRACTION_PHONE_REGIONS = [r.upper() for r in env.list("EXTRACTION_PHONE_REGIONS", default=["US"])]
EXTRACTION_DATE_ORDER = env.str("EXTRACTION_DATE_ORDER", default="DMY").upper()
# Where extraction_train keeps the OCR of the training images between runs.
EXTRACTION_OCR_CACHE = env.str("EXTRACTION_OCR_CACHE", default=str(BASE_DIR / "var" / "ocr"))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # larger uploads spool to a temporary file
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024  # non-file request bodies (413 above it)
# The Open API's own caps on a request's URL and headers (414 and 431 in the envelope).
# gunicorn's limits (a2v2/gunicorn_conf.py) sit above these so that the app answers.
OPEN_API_MAX_URL_BYTES = env.int("OPEN_API_MAX_URL_BYTES", default=8192)
OPEN_API_MAX_HEADER_BYTES = env.int("OPEN_API_MAX_HEADER_BYTES", default=8192)
OPEN_API_MAX_HEADERS_BYTES = env.int("OPEN_API_MAX_HEADERS_BYTES", default=32768)

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"

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

# ---- The admin sign-in: guessing limits, two-factor, sudo mode, members (accounts/) ----------
# README "Signing in" explains each. Failed sign-ins are counted by django-axes in its own
# tables, keyed by the client address that the API uses too (a2v2.http.client_ip).
INSTALLED_APPS += [
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
]
MIDDLEWARE.insert(
    MIDDLEWARE.index("a2v2.ui_middleware.AuthenticationMiddleware") + 1,
    "a2v2.ui_middleware.TwoFactorEnrolmentMiddleware",
)
MIDDLEWARE.append("a2v2.ui_middleware.AxesMiddleware")  # last, as django-axes asks
# axes looks for its middleware by its own dotted path; ours is the same class, stepped
# around under /v1/open (a2v2/ui_middleware.py).
SILENCED_SYSTEM_CHECKS.append("axes.W002")
# Likewise Django's deploy check looks for django.middleware.csrf.CsrfViewMiddleware by path;
# a2v2.ui_middleware.CsrfViewMiddleware is that class (tests/test_ui_middleware.py shows the
# UI still refuses a POST without the token).
SILENCED_SYSTEM_CHECKS.append("security.W003")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out client before any password check
    "django.contrib.auth.backends.ModelBackend",
]
# A guessing run from one address is locked out: after LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS
# failures for one account from one address, or LOGIN_FAILURES_PER_ADDRESS for any accounts
# from one address, for LOGIN_LOCKOUT_MINUTES (counted again from each refused attempt).
LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS = env.int(
    "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", default=5
)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=20)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
# A guess at one account from many addresses is never a lockout: past LOGIN_ACCOUNT_FREE_FAILURES
# failures in the window, each next attempt must wait 1, 2, 4 … seconds, at most
# LOGIN_ACCOUNT_MAX_DELAY_SECONDS; a browser that signed in to the account before is not slowed.
LOGIN_ACCOUNT_FREE_FAILURES = env.int("LOGIN_ACCOUNT_FREE_FAILURES", default=10)
LOGIN_ACCOUNT_MAX_DELAY_SECONDS = env.int("LOGIN_ACCOUNT_MAX_DELAY_SECONDS", default=300)
AXES_HANDLER = "accounts.signin.SignInAttemptsHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_CLIENT_IP_CALLABLE = "a2v2.http.client_ip_str"
AXES_USERNAME_CALLABLE = "accounts.signin.attempted_email"
AXES_LOCKOUT_CALLABLE = "accounts.signin.lockout_response"
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in Audit Logs already
# Sensitive actions (reveal, create, rotate, delete keys; change members; two-factor changes)
# ask for the password (and code) again when the last confirmation is older than this.
SUDO_MODE_MINUTES = env.int("SUDO_MODE_MINUTES", default=10)
# Two-factor (django-otp): the issuer name shown in authenticator apps.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="A2V2")
# Passkeys (django-otp-webauthn), a second factor beside the authenticator app. A passkey is
# bound to a host name (the relying party id), and the browser reports the page's origin,
# which must be one of PASSKEY_ORIGINS. An IP address cannot have passkeys: browse to
# http://localhost:8000, not 127.0.0.1. Signing in with a passkey alone (passwordless) is off.
PASSKEY_ORIGINS = env.list(
    "PASSKEY_ORIGINS", default=CSRF_TRUSTED_ORIGINS or ["http://localhost:8000"]
)
OTP_WEBAUTHN_ALLOWED_ORIGINS = PASSKEY_ORIGINS
OTP_WEBAUTHN_RP_ID = env.str("PASSKEY_RP_ID", default=urlsplit(PASSKEY_ORIGINS[0]).hostname or "")
OTP_WEBAUTHN_RP_NAME = OTP_TOTP_ISSUER
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
INVITATION_DAYS = env.int("INVITATION_DAYS", default=7)
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_MINUTES", default=60) * 60
# "Forgot your password?" requests per hour: from one client address (then 429), and for one
# e-mail address typed (then nothing more is sent to it that hour; the answer stays the same).
PASSWORD_RESETS_PER_ADDRESS = env.int("PASSWORD_RESETS_PER_ADDRESS", default=10)
PASSWORD_RESETS_PER_EMAIL = env.int("PASSWORD_RESETS_PER_EMAIL", default=3)
# E-mail (invitations, password resets), through Django's MAILERS: printed to the console
# unless EMAIL_BACKEND=smtp (or a backend's dotted path); the EMAIL_* variables set up SMTP.
_EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="console")
MAILERS = {
    "default": {
        "BACKEND": {
            "console": "django.core.mail.backends.console.EmailBackend",
            "smtp": "django.core.mail.backends.smtp.EmailBackend",
        }.get(_EMAIL_BACKEND, _EMAIL_BACKEND),
    }
}
if MAILERS["default"]["BACKEND"].endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": env.str("EMAIL_HOST", default="localhost"),
        "port": env.int("EMAIL_PORT", default=587),
        "username": env.str("EMAIL_HOST_USER", default=""),
        "password": env.str("EMAIL_HOST_PASSWORD", default=""),
        "use_tls": env.bool("EMAIL_USE_TLS", default=True),  # STARTTLS, port 587
        "use_ssl": env.bool("EMAIL_USE_SSL", default=False),  # implicit TLS, port 465
        "timeout": env.int("EMAIL_TIMEOUT", default=10),
    }
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="A2V2 <no-reply@localhost>")

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

# Every handler scrubs credentials (keys, secrets, key-bearing query strings and headers)
# from what it writes: a2v2/logging.py. gunicorn's own logs get the same filter from
# a2v2/gunicorn_conf.py.
# Monitoring (a2v2/monitoring.py, a2v2/metrics.py; docs/deploy.md "Monitoring"). Health's
# details (queue, workers, version) and /metrics are shown only to a client address in
# MONITORING_ALLOWED_IPS or a request with "Authorization: Bearer <MONITORING_TOKEN>";
# both are empty by default. METRICS_ENABLED turns /metrics and its counters on; with
# several gunicorn processes set PROMETHEUS_MULTIPROC_DIR too.
MONITORING_ALLOWED_IPS = env.list("MONITORING_ALLOWED_IPS", default=[])
MONITORING_TOKEN = env.str("MONITORING_TOKEN", default="")
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)
if METRICS_ENABLED:
    MIDDLEWARE.insert(0, "a2v2.metrics.MetricsMiddleware")
# While a dependency stays down, a2v2/outage.py logs a summary line this often.
OUTAGE_SUMMARY_SECONDS = env.float("OUTAGE_SUMMARY_SECONDS", default=10.0)
# LOG_FORMAT=json writes one JSON object per line (a2v2/logs.py), for log collectors.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain").lower()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "a2v2.logs.JsonFormatter"},
    },
    "filters": {
        "skip_unavailable": {"()": "a2v2.outage.SkipUnavailableResponses"},
        "redact_secrets": {"()": "a2v2.logging.RedactSecrets"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Request lines carry no credentials (keys never go in a URL), but keep them quiet.
        # A 503 is a dependency outage, which a2v2/outage.py reports once, not per request.
        "django.request": {"level": "ERROR", "filters": ["skip_unavailable"]},
        # django-axes says INFO on every sign-in; failures and lockouts are WARNING.
        "axes": {"level": "WARNING"},
        # runserver's request lines: through the scrubbing handler, not Django's own.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
