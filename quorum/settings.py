"""Quorum's one settings module. Configuration comes from environment variables only (every one is
documented with its default in ``.env.example``); the defaults are the embedded mode: SQLite, eager
Celery, local-memory cache. ``QUORUM_ENV=production`` turns the defaults safe and requires
``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL`` and ``REDIS_URL``.

Every bad value raises ``ImproperlyConfigured`` naming the variable, at start-up."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from quorum.env import (
    check_hosts,
    check_origins,
    env_bool,
    env_choice,
    env_endpoint_keys,
    env_int,
    env_list,
    env_str,
    env_url,
)

# Lets code write the generic types django-stubs checks (ModelForm[Project], QuerySet[Item]) at
# run time too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"

QUORUM_ENV = env_choice("QUORUM_ENV", ("development", "production"), "development")
PRODUCTION = QUORUM_ENV == "production"
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when QUORUM_ENV=production.")


def _checked_secret_key(name: str, key: str) -> str:
    # The same test as Django's security.W009/W025, made fatal: a weak key signs sessions,
    # password-reset links and CSRF tokens.
    if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-"):
        raise ImproperlyConfigured(
            f"{name} must be at least 50 characters with at least 5 distinct characters and must not start "
            "with 'django-insecure-'. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    return key


SECRET_KEY = env_str("SECRET_KEY", required=not DEBUG)
if not SECRET_KEY:
    # Development only: a fixed, obviously-unsafe key so sessions survive restarts.
    SECRET_KEY = "django-insecure-development-only-never-use-in-production-0123456789"  # noqa: S105
elif not DEBUG:
    _checked_secret_key("SECRET_KEY", SECRET_KEY)
# Old keys still accepted for existing sessions and signed links while a new SECRET_KEY rolls out.
SECRET_KEY_FALLBACKS = [_checked_secret_key("SECRET_KEY_FALLBACKS", key) for key in env_list("SECRET_KEY_FALLBACKS")]

ALLOWED_HOSTS = check_hosts(
    "ALLOWED_HOSTS", env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else [])
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DEBUG is off (comma-separated host names).")
# Only needed when the browser's origin differs from the Host header the app sees (e.g. a proxy that
# rewrites Host); scheme included: https://quorum.example.org.
CSRF_TRUSTED_ORIGINS = check_origins("CSRF_TRUSTED_ORIGINS", env_list("CSRF_TRUSTED_ORIGINS"))
# The public base URL, for links in emails and exports (no trailing slash).
SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000", schemes=("http", "https")).rstrip("/")
if not urlsplit(SITE_URL).netloc:
    raise ImproperlyConfigured(f"SITE_URL={SITE_URL!r} has no host name.")

# --- Reverse proxies ------------------------------------------------------------------------
# How many proxies (load balancer, nginx) sit in front of the app and append to X-Forwarded-For.
# 0: the client is REMOTE_ADDR and forwarded headers are ignored (never trust them blindly: a
# client can send any header). DRF's throttles read the same number.
NUM_PROXIES = env_int("NUM_PROXIES", 0, minimum=0, maximum=10)
# Behind a TLS-terminating proxy, the proxy's X-Forwarded-Proto tells Django the request was https
# (otherwise SECURE_SSL_REDIRECT loops). Only safe when the proxy overwrites the header.
TRUST_X_FORWARDED_PROTO = env_bool("TRUST_X_FORWARDED_PROTO", default=NUM_PROXIES > 0)
if TRUST_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)

INSTALLED_APPS = [
    # Before staticfiles: its runserver command (quorum/management) replaces staticfiles' own.
    "quorum",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "csp",
    # The rooms, ground floor first: each imports only from rooms above it in this list
    # (docs/architecture.md).
    "projects",
    "annotation",
    "qualification",
    "dynamic",
    "judging",
    "qc",
    "exports",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After whitenoise: it times Django's own work (static files are answered before it).
    "quorum.middleware.ServerTimingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "quorum.urls"
WSGI_APPLICATION = "quorum.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "projects.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# Production requires an explicit DATABASE_URL: web processes must be stateless to scale out, and
# a forgotten variable must not silently create an SQLite file on one machine.
DATABASE_URL = env_url(
    "DATABASE_URL",
    "" if PRODUCTION else f"sqlite:///{BASE_DIR / 'var' / 'quorum.sqlite3'}",
    schemes=("sqlite", "postgres", "postgresql", "pgsql"),
    required=PRODUCTION,
)
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))}
except ValueError as exc:  # dj-database-url raises ValueError on unparseable URLs
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if not DATABASES["default"].get("NAME") or DATABASES["default"]["NAME"] == ":memory:":
        raise ImproperlyConfigured("DATABASE_URL=sqlite:// needs a file path, e.g. sqlite:////srv/quorum/db.sqlite3.")
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL + a busy timeout let the dev server and an eager Celery task share the file.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
    }
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
else:
    if not DATABASES["default"].get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL names no database, e.g. postgres://user:password@host:5432/quorum.")
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The annotator's hot-path statements (quorum.rows) are prepared once per connection on PostgreSQL.
# Turn off behind a pooler that cannot keep prepared statements (PgBouncer before 1.21, or without
# max_prepared_statements, in transaction mode). Off by default when connections are not reused:
# preparing a statement used once costs a round trip.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", default=bool(DATABASES["default"].get("CONN_MAX_AGE")))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker and cache ---------------------------------------------------------
# Production requires Redis: the login rate limit and other counters must be shared by every web
# process, and long jobs (imports, exports, generation) must not run inside a web request.
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss", "unix"), required=PRODUCTION)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "quorum",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
if not CELERY_TASK_ALWAYS_EAGER and not REDIS_URL:
    # Without a broker, queued tasks would wait forever in this process's memory.
    raise ImproperlyConfigured("CELERY_TASK_ALWAYS_EAGER=0 needs REDIS_URL (the broker the worker reads).")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TIMEZONE = "UTC"
# The queue tasks go to when no queue is named (one deployment = one queue, unless told otherwise).
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
# Long jobs (export runs, import batches, model generations) write a heartbeat while they run, at
# least every QUORUM_JOB_HEARTBEAT_SECONDS. A running job whose heartbeat is older than
# QUORUM_JOB_STALE_SECONDS lost its worker (killed, out of memory, machine gone): the sweepers
# (below, every QUORUM_JOB_SWEEP_SECONDS) queue it again, up to QUORUM_JOB_MAX_ATTEMPTS runs in
# all, then mark it failed with the reason. See docs/operations.md.
QUORUM_JOB_HEARTBEAT_SECONDS = env_int("QUORUM_JOB_HEARTBEAT_SECONDS", 15, minimum=1, maximum=600)
QUORUM_JOB_STALE_SECONDS = env_int("QUORUM_JOB_STALE_SECONDS", 120, minimum=2, maximum=24 * 3600)
if QUORUM_JOB_STALE_SECONDS < 2 * QUORUM_JOB_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "QUORUM_JOB_STALE_SECONDS must be at least twice QUORUM_JOB_HEARTBEAT_SECONDS "
        f"({QUORUM_JOB_STALE_SECONDS} < 2 × {QUORUM_JOB_HEARTBEAT_SECONDS}): a busy worker would be taken for dead."
    )
QUORUM_JOB_SWEEP_SECONDS = env_int("QUORUM_JOB_SWEEP_SECONDS", 30, minimum=1, maximum=3600)
QUORUM_JOB_MAX_ATTEMPTS = env_int("QUORUM_JOB_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
# Periodic tasks run by `celery -A quorum beat` (exactly one beat process per deployment) or, in the
# embedded mode, by `manage.py run_periodic` (make run starts it; fixed intervals only). Apps
# add entries: {"name": {"task": "app.tasks.fn", "schedule": seconds_or_crontab}}.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Ends expired leases so their items go back to the pool (claims also do it when they run dry).
    "annotation-expire-leases": {"task": "annotation.tasks.expire_leases", "schedule": 60.0},
    # Scores qualification attempts whose time limit passed (members leave ``testing``).
    "qualification-expire-attempts": {
        "task": "qualification.tasks.expire_qualification_attempts",
        "schedule": 60.0,
    },
    # Recomputes the QC figures (snapshots) and runs the QC rules of every active stream that
    # received work since its last run (and of every active stream hourly): figures at most a
    # minute old while annotators work. Pages read the snapshots.
    "qc-recompute-metrics": {"task": "qc.tasks.recompute_metrics", "schedule": 60.0},
    # Closes calibration rounds whose deadline has passed (their results open to the annotators).
    "qc-close-calibration-rounds": {"task": "qc.tasks.close_calibration_rounds", "schedule": 60.0},
    # Long jobs whose worker stopped responding (stale heartbeat): queued again or failed with
    # the reason. One sweeper per room that owns the job.
    "exports-sweep-stale": {"task": "exports.tasks.sweep_stale_exports", "schedule": float(QUORUM_JOB_SWEEP_SECONDS)},
    "annotation-sweep-stale-imports": {
        "task": "annotation.tasks.sweep_stale_imports",
        "schedule": float(QUORUM_JOB_SWEEP_SECONDS),
    },
    "dynamic-sweep-stale-generations": {
        "task": "dynamic.tasks.sweep_stale_generations",
        "schedule": float(QUORUM_JOB_SWEEP_SECONDS),
    },
    # Model judges: runs for the new items of judges that follow their stream, runs waiting for a
    # worker (or, in the embedded mode, run here a time slice each), runs whose worker died.
    "judging-run-judges": {"task": "judging.tasks.run_judges", "schedule": 30.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = env_str("CELERY_BEAT_SCHEDULE_FILENAME", str(BASE_DIR / "var" / "celerybeat-schedule"))

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
LOGIN_RATE_LIMIT = env_int("LOGIN_RATE_LIMIT", 10, minimum=1)  # failed attempts per IP+user per 15 min
# Active (not revoked) API tokens one user may hold; creating one more is a 400.
QUORUM_MAX_API_TOKENS_PER_USER = env_int("QUORUM_MAX_API_TOKENS_PER_USER", 20, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "projects.api_auth.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON nested deeper than quorum.parsers.MAX_JSON_DEPTH is a 400, not a RecursionError (500).
    "DEFAULT_PARSER_CLASSES": [
        "quorum.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # DRF's default (None) would trust a client-sent X-Forwarded-For in throttling.
    "NUM_PROXIES": NUM_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Quorum API",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # One name for the stream status wherever a stream is shown (list, settings, PATCH body).
    "ENUM_NAME_OVERRIDES": {"StreamStatusEnum": "projects.models.Stream.Status"},
}

# --- i18n, static, media --------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed names served by WhiteNoise with far-future caching; needs collectstatic.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Uploads waiting for a background import live here: web and worker processes must share it.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "media/"
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
QUORUM_MAX_UPLOAD_BYTES = env_int("QUORUM_MAX_UPLOAD_BYTES", 2 * 1024 * 1024 * 1024, minimum=1024)
# Uploads above this many bytes — and every gzipped upload, whose expanded size is unknown — are
# imported by a Celery task with a progress page, never inside the web request.
QUORUM_ASYNC_IMPORT_BYTES = env_int("QUORUM_ASYNC_IMPORT_BYTES", 1024 * 1024, minimum=0)
# A line longer than this is an error naming the line, never held in memory whole.
QUORUM_IMPORT_MAX_LINE_BYTES = env_int("QUORUM_IMPORT_MAX_LINE_BYTES", 32 * 1024 * 1024, minimum=1024)
# A file that expands beyond this when decompressed (a gzip bomb) fails with nothing imported.
QUORUM_IMPORT_MAX_DECOMPRESSED_BYTES = env_int(
    "QUORUM_IMPORT_MAX_DECOMPRESSED_BYTES", 4 * 1024 * 1024 * 1024, minimum=1024
)
QUORUM_DEMO_DATA_DIR = Path(env_str("QUORUM_DEMO_DATA_DIR", str(BASE_DIR / "demo" / "data")))
# Where load_demo says each role starts (`make run` passes its HOST and PORT).
QUORUM_DEMO_BASE_URL = env_str("QUORUM_DEMO_BASE_URL", "http://127.0.0.1:8000")

# --- Model endpoints (dynamic labeling) -------------------------------------------------------
# Endpoint URLs reaching loopback, private, link-local or metadata addresses are refused (when
# saved and at every connection) unless the host is listed here: "host" (any port) or
# "host:port", e.g. 127.0.0.1:8001 for the demo model or vllm.internal:8000 for a local vLLM.
QUORUM_ENDPOINT_ALLOWED_HOSTS = env_list("QUORUM_ENDPOINT_ALLOWED_HOSTS")
for _entry in QUORUM_ENDPOINT_ALLOWED_HOSTS:
    if "/" in _entry or " " in _entry:
        raise ImproperlyConfigured(f"QUORUM_ENDPOINT_ALLOWED_HOSTS takes host or host:port entries, not {_entry!r}.")
# The key variables model endpoints may use, each bound to the hosts it may be sent to and
# optionally to projects: "NAME=host[:port][,host...][@project-slug,...]" entries separated by ";",
# e.g. "OPENAI_API_KEY=api.openai.com;VLLM_API_KEY=vllm.internal:8000@research". A host without a
# port means the scheme's default port. A variable not listed here is never sent anywhere.
QUORUM_ENDPOINT_KEYS = env_endpoint_keys("QUORUM_ENDPOINT_KEYS")
# A model's answer larger than this (bytes on the wire) is cut off with an error.
QUORUM_ENDPOINT_MAX_RESPONSE_BYTES = env_int("QUORUM_ENDPOINT_MAX_RESPONSE_BYTES", 1024 * 1024, minimum=1024)
QUORUM_ENDPOINT_CONNECT_TIMEOUT = env_int("QUORUM_ENDPOINT_CONNECT_TIMEOUT", 10, minimum=1, maximum=120)
# Embedded mode (eager Celery): generations run in a thread of the web process so tokens still
# stream into the page. Off: an eager task runs inside the request (tests), or a worker runs it.
QUORUM_GENERATE_IN_THREAD = env_bool("QUORUM_GENERATE_IN_THREAD", CELERY_TASK_ALWAYS_EAGER)
# Model judges (judging/): a transient failure (timeout, 429, 5xx) is asked again up to
# QUORUM_JUDGE_RETRIES times, after 1x, 2x, 4x... QUORUM_JUDGE_BACKOFF_MS milliseconds. A run works for at
# most QUORUM_JUDGE_SLICE_SECONDS at a time, then goes back to the queue (the periodic job or the
# worker picks it up again), so one long run never holds a worker or the embedded scheduler.
QUORUM_JUDGE_RETRIES = env_int("QUORUM_JUDGE_RETRIES", 3, minimum=0, maximum=10)
QUORUM_JUDGE_BACKOFF_MS = env_int("QUORUM_JUDGE_BACKOFF_MS", 2000, minimum=0, maximum=300_000)
QUORUM_JUDGE_SLICE_SECONDS = env_int("QUORUM_JUDGE_SLICE_SECONDS", 300, minimum=5, maximum=3000)

# --- Email ----------------------------------------------------------------------------------
# EMAIL_HOST set: SMTP. Unset: messages are written to the console (the process's log).
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)  # implicit TLS, usually port 465
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", not EMAIL_USE_SSL)  # STARTTLS, usually port 587
if EMAIL_USE_SSL and EMAIL_USE_TLS:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive: set one of them.")
EMAIL_PORT = env_int("EMAIL_PORT", 465 if EMAIL_USE_SSL else 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
if EMAIL_HOST_PASSWORD and not EMAIL_HOST_USER:
    raise ImproperlyConfigured("EMAIL_HOST_PASSWORD is set but EMAIL_HOST_USER is not.")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "quorum@localhost")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)  # sender of error reports
for _name, _address in (("DEFAULT_FROM_EMAIL", DEFAULT_FROM_EMAIL), ("SERVER_EMAIL", SERVER_EMAIL)):
    if "@" not in _address:
        raise ImproperlyConfigured(f"{_name}={_address!r} is not an email address.")

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
# Our scripts and htmx read the CSRF token from the page (hx-headers, the form field), never from
# the cookie, so script gets no reason to read any cookie (tests/security/test_headers.py).
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Off in debug so `make run` works over plain http; on by default everywhere else.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# Content-Security-Policy on every response (django-csp, csp.middleware.CSPMiddleware): scripts
# only from our own origin, no inline script, so injected markup in model output cannot run even
# if sanitising ever missed something. A response that already has the header keeps its own.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", ("debug", "info", "warning", "error", "critical"), "info").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"one_line_forbidden": {"()": "quorum.logfilters.OneLineForbidden"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "null": {"class": "logging.NullHandler"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Replaces Django's default handlers for its loggers (which would print every message a
        # second time in debug) with the one console handler above.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # A 403 (PermissionDenied) is one WARNING line, without its traceback.
        "django.request": {"filters": ["one_line_forbidden"]},
        # Scanners send random Host headers all day; Django answers 400 and would log a traceback.
        "django.security.DisallowedHost": {"handlers": ["null"], "propagate": False},
        # One INFO line per request to a model endpoint (every generation) is noise.
        "httpx2": {"level": "WARNING"},
    },
}
