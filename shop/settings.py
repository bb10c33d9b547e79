"""Settings, all taken from the environment (see README, "Configuration").

The flow mode is chosen here and only here (plus a per-order override in the API), so that
domain services branch on it exactly once.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from core.logs import log_format_from_env, logging_config
from core.process_name import process_name
from messaging.celery_adapter.queue_types import queue_type_from_env
from messaging.celery_adapter.settings import celery_settings_for, flow_mode_from_env

# Lets Django's generic classes be subscripted at run time (ModelAdmin[Order]), as django-stubs types them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SHOP_VAR_DIR", BASE_DIR / "var"))

DEBUG = os.environ.get("DJANGO_DEBUG", "").lower() in {"1", "true", "yes", "on"}


# --- Security ------------------------------------------------------------------------------
# With DEBUG off and a public host in DJANGO_ALLOWED_HOSTS the defaults are production-grade
# (`manage.py check --deploy` is clean): the site is taken to be served over HTTPS. With only
# loopback hosts (the default, 127.0.0.1 and localhost) it is taken to be plain http, as `make run`
# and `manage.py runserver` serve it. DJANGO_HTTPS=0/1 says which, whatever the hosts: 0 means no
# redirect to https, no Secure-only cookies, no HSTS. Each setting can also be
# set on its own from the environment variable of the same name prefixed with DJANGO_.
def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/true/yes/on or 0/false/no/off, not {value!r}")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number of seconds, not {value!r}") from None


ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
#: Hosts that only this machine reaches: a server that answers to nothing else is a development or
#: `make run` server on plain http, and a redirect to https there would lock its user out.
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
SERVED_OVER_HTTPS = _env_flag("DJANGO_HTTPS", not DEBUG and not set(ALLOWED_HOSTS) <= LOOPBACK_HOSTS)
SECURE_SSL_REDIRECT = _env_flag("DJANGO_SECURE_SSL_REDIRECT", SERVED_OVER_HTTPS)
SESSION_COOKIE_SECURE = _env_flag("DJANGO_SESSION_COOKIE_SECURE", SERVED_OVER_HTTPS)
CSRF_COOKIE_SECURE = _env_flag("DJANGO_CSRF_COOKIE_SECURE", SERVED_OVER_HTTPS)
# A year, subdomains included, preload-ready; browsers honour the header only over HTTPS.
SECURE_HSTS_SECONDS = _env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000 if SERVED_OVER_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_flag("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", SERVED_OVER_HTTPS)
SECURE_HSTS_PRELOAD = _env_flag("DJANGO_SECURE_HSTS_PRELOAD", SERVED_OVER_HTTPS)
# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto (only if the proxy sets it, always).
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if _env_flag("DJANGO_SECURE_PROXY_SSL_HEADER", False) else None
)
# Origins allowed to POST to the admin from another scheme/host, e.g. https://shop.example.com.
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Error pages and error e-mails mask the password inside URL settings (CELERY_BROKER_URL).
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.error_reports.CredentialMaskingFilter"

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. Export one, for example:\n"
        "  export DJANGO_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')\n"
        "(`make demo` generates a throwaway key for its own run; nothing else does.)"
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Listed so that /api/docs renders ninja's template with its bundled Swagger UI, served from
    # STATIC_URL like the admin's files; without it ninja's page loads Swagger UI from a CDN.
    "ninja",
    "core",
    # The composition root runs from its ready(): Celery and the operations wired to the kernel.
    "messaging",
    "catalog",
    "orders",
    "inventory",
    "payments",
    "analytics",
    "notifications",
    "readmodel",
    # Event mode: adding this line is the whole change needed to add fraud detection.
    # Command mode also needs orders/flows/commanding.py to send `fraud.check`.
    "fraud",
    # The teaching layer: the walkthrough, its web page, the admin's comparison of the modes.
    "lesson",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves STATIC_ROOT (the admin's CSS, Swagger UI) with DEBUG off, where Django serves nothing:
    # gunicorn alone answers /static/... with 404. Right after SecurityMiddleware, as whitenoise asks.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Under /api/ only: 413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE, 415 for one that is not
    # JSON, and every error in the API's JSON shape, whoever raised it (core/api_boundary.py).
    "core.api_boundary.ApiBoundaryMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop.urls"

#: The largest request body Django reads, in bytes (Django's default, 2.5 MiB, stated so the API can
#: cite it): over it the API answers 413 (README, "The HTTP API"; the OpenAPI document states it).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
WSGI_APPLICATION = "shop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'shop.sqlite3'}",
        # A worker handles one message after another; without a persistent connection each one
        # paid for a new PostgreSQL backend (a process fork on the server). The benchmarks
        # measured it (docs/benchmarks.md). The health check drops a connection the server closed.
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Worker threads write concurrently; deferred transactions that upgrade to writes fail with
    # "database is locked". IMMEDIATE + WAL + a timeout make SQLite queue writers instead.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("SHOP_TEST_SQLITE", str(VAR_DIR / "test.sqlite3"))}
else:
    # Whose connection is whose in pg_stat_activity: "shop worker inventory 907" (core/process_name.py).
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = process_name()
    if os.environ.get("SHOP_TEST_DB_NAME"):
        # The test database's name on a server, so a test run never collides with another
        # checkout's `test_<name>` on the same PostgreSQL.
        DATABASES["default"]["TEST"] = {"NAME": os.environ["SHOP_TEST_DB_NAME"]}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # filled by `manage.py collectstatic` (`make run` runs it)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Content-hashed names (cached forever by browsers) plus gzip copies that whitenoise serves.
    # Needs collectstatic before the app renders a page with DEBUG off: the hashes come from
    # STATIC_ROOT/staticfiles.json (tests/settings.py swaps in the unhashed storage).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "shop@example.com")

# --- Messaging -----------------------------------------------------------------------------
SHOP_FLOW_MODE = flow_mode_from_env(os.environ.get("SHOP_FLOW_MODE"))
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "memory://")
#: RabbitMQ's queue type for every durable queue the app declares: classic or quorum (README,
#: "Configuration"; docs/decisions.md §21). Redis and memory:// ignore it.
SHOP_QUEUE_TYPE = queue_type_from_env(os.environ.get("SHOP_QUEUE_TYPE"))
globals().update(celery_settings_for(CELERY_BROKER_URL, SHOP_QUEUE_TYPE))

# --- The fulfilment saga (docs/sagas.md) ---------------------------------------------------
#: Seconds an order may stay unconfirmed before orders gives up on it and compensates.
SHOP_SAGA_TIMEOUT = float(os.environ.get("SHOP_SAGA_TIMEOUT", "120"))
#: Seconds the payment service takes to answer any authorization, and the extra a "slow
#: issuer" takes (a card token ending in 0003): how the tests make a step miss its deadline.
SHOP_PAYMENT_LATENCY = float(os.environ.get("SHOP_PAYMENT_LATENCY", "0"))
SHOP_PAYMENT_SLOW_SECONDS = float(os.environ.get("SHOP_PAYMENT_SLOW_SECONDS", "30"))

# DJANGO_LOG_FORMAT=text (default) or json: every process logs to stderr in that format, each line
# carrying the message's correlation_id when it is about one (core/logs.py).
SHOP_LOG_FORMAT = log_format_from_env(os.environ.get("DJANGO_LOG_FORMAT"))
LOGGING = logging_config(SHOP_LOG_FORMAT, shop_level=os.environ.get("SHOP_LOG_LEVEL", "INFO"))
