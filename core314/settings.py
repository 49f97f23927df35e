"""Settings for Core314 Stability, read from the environment (12-factor).

Every variable is listed in README.md. Production differs from development only by environment variables.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from csp import constants as csp_constants

from core314 import embedded
from core314.envconf import ConfigError, env_bool, env_int, env_list, env_optional, env_str

# Generic classes that Django leaves unsubscriptable at run time (ModelAdmin[...], ...) take the type
# parameters that django-stubs gives them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
# Commands that touch no database or broker (a detector replay) must not start embedded servers.
# Commands that need no server (and pure unit tests, CORE314_OFFLINE=1) never start the embedded ones.
OFFLINE_COMMAND = (len(sys.argv) > 1 and sys.argv[0].endswith("manage.py") and sys.argv[1] in {"backtest"}) or (
    os.environ.get("CORE314_OFFLINE") == "1"
)


def _secret_key() -> str:
    key = env_optional("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ConfigError("SECRET_KEY is required when DEBUG is off")
    # Development only: one random key kept under .data/ so sessions survive restarts.
    path = embedded.data_dir() / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# HTTPS hardening is on by default in production (DEBUG off); a plain-HTTP deployment turns it off
# explicitly with CORE314_HTTPS=0.
HTTPS = env_bool("CORE314_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
if env_bool("CORE314_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "template_partials",
    "django_htmx",
    "core314",
    "health",
    "anomalies",
    "recovery",
    "selftest",
]

MIDDLEWARE = [
    "core314.metrics.RequestMetricsMiddleware",
    "core314.limits.BodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

# A strict Content-Security-Policy: scripts and styles from this origin only (no inline script, no eval; a
# nonce where a template that is not ours needs one), live updates over this origin's WebSocket, nothing
# framed, forms posted to this origin only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src": [csp_constants.SELF, csp_constants.NONCE],
        "img-src": [csp_constants.SELF, "data:"],
        "font-src": [csp_constants.SELF],
        "connect-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.NONE],
        "frame-ancestors": [csp_constants.NONE],
        "form-action": [csp_constants.SELF],
    }
}
# The pages use no device or browser feature: deny them all, for this origin and anything it embeds.
DENIED_FEATURES = [
    "accelerometer", "ambient-light-sensor", "autoplay", "camera", "display-capture", "encrypted-media",
    "fullscreen", "geolocation", "gyroscope", "magnetometer", "microphone", "midi", "payment",
    "picture-in-picture", "publickey-credentials-get", "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
]  # fmt: skip
PERMISSIONS_POLICY: dict[str, list[str]] = {feature: [] for feature in DENIED_FEATURES}

ROOT_URLCONF = "core314.urls"
WSGI_APPLICATION = "core314.wsgi.application"
ASGI_APPLICATION = "core314.asgi.application"

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
                "core314.context_processors.platform",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

# --- PostgreSQL (embedded when DATABASE_URL is unset) ---------------------------------------------
DATABASE_URL = env_optional("DATABASE_URL") or (
    "postgresql://offline@127.0.0.1:1/unused" if OFFLINE_COMMAND else embedded.ensure_postgres()
)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
DATABASES["default"]["TEST"] = {"NAME": env_optional("TEST_DATABASE_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker, channel layer (embedded when REDIS_URL is unset) -----------------
REDIS_URL = env_optional("REDIS_URL") or ("redis://127.0.0.1:1/0" if OFFLINE_COMMAND else embedded.ensure_redis())
REDIS_PREFIX = env_str("CORE314_REDIS_PREFIX", "core314")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_PREFIX,
    }
}

CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # Each consumer waits on Redis in 5 s blocking reads; redis-py's default socket timeout is also 5 s,
            # so an idle page's socket died with 1011 after about 5 s. Reads may now take longer than the
            # blocking wait, and keepalives and health checks still find a dead connection.
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_timeout": 30,
                    "socket_connect_timeout": 5,
                    "socket_keepalive": True,
                    "health_check_interval": 15,
                    "retry_on_timeout": True,
                }
            ],
            "prefix": f"{REDIS_PREFIX}:asgi",
            "capacity": 1000,
            "expiry": 30,
        },
    }
}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None  # runs are recorded in our own tables, not in a result backend
CELERY_TASK_DEFAULT_QUEUE = f"{REDIS_PREFIX}.default"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 90)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_SEND_TASK_EVENTS = True  # gives the heartbeat that /readyz reads
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "core314.beat:TickingDatabaseScheduler"
CELERY_WORKER_POOL_RESTARTS = True  # lets the Celery actuator restart worker pools remotely
# An unacknowledged task (its worker died) is delivered again after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": f"{REDIS_PREFIX}:",
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
}

# --- Auth, i18n, static ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in lockout (core314.lockout): this many failures for one username from one address lock that pair out
# for CORE314_LOGIN_LOCKOUT seconds; the login page and the admin's say so.
AUTHENTICATION_BACKENDS = ["core314.lockout.LockoutModelBackend"]
CORE314_LOGIN_MAX_FAILURES = env_int("CORE314_LOGIN_MAX_FAILURES", 5)
CORE314_LOGIN_LOCKOUT = env_int("CORE314_LOGIN_LOCKOUT", 900)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "system-monitor"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / ".data" / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns at every start when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "core314@localhost")

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so that an unauthenticated API call answers 401 with a WWW-Authenticate header.
        "core314.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "core314.permissions.ServiceAccountWriteAccess",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "core314.pagination.KeysetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core314.api.exception_handler",
    # Per token and per user, fixed windows in Redis (core314.throttling); rates below.
    "DEFAULT_THROTTLE_CLASSES": ["core314.throttling.TokenRateThrottle", "core314.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {},
}
# API rates: each token, and each user (a person's sessions and their service accounts' tokens together).
# N/s, N/min, N/hour or N/day; 0 turns a throttle off.
CORE314_API_RATE = env_str("CORE314_API_RATE", "6000/min")
CORE314_API_USER_RATE = env_str("CORE314_API_USER_RATE", "12000/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "Core314 Stability API",
    "DESCRIPTION": "Signals in, anomalies, recovery actions and self-tests. Authenticate with a "
    "service-account token: `Authorization: Bearer c314_...`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Self-hosted Swagger UI: no CDN is reachable from a closed network.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a field named "kind"; give each choice set its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "ProbeKindEnum": "health.models.ProbeKind",
        "AnomalyKindEnum": "anomalies.models.AnomalyKind",
        "AlertStatusEnum": [("firing", "firing"), ("resolved", "resolved")],
        "SignalStatusEnum": "anomalies.models.SignalStatus",
        "FeedbackEnum": "anomalies.models.Feedback",
        "VerdictEnum": "recovery.models.Verdict",
    },
}

# --- Platform: its own knobs live in their own module ------------------------------------------------
from core314.settings_platform import *  # noqa: E402, F403 -- every CORE314_* setting, documented there

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
