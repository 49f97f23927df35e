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

from core314 import egress, embedded
from core314.envconf import ConfigError, env_bool, env_float, env_int, env_list, env_optional, env_str

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

# --- Platform ---------------------------------------------------------------------------------------
CORE314_VERSION = "0.1.0"
CORE314_ENVIRONMENT = env_str("CORE314_ENVIRONMENT", "development" if DEBUG else "production")
# /metrics answers a bearer token, or any caller from these networks (CIDR), or a staff session.
CORE314_METRICS_TOKEN = env_optional("CORE314_METRICS_TOKEN")
CORE314_METRICS_ALLOWED_NETS = env_list("CORE314_METRICS_ALLOWED_NETS", ["127.0.0.1/32", "::1/128"])
# /readyz: how old the last worker heartbeat and beat tick may be before the part counts as down.
CORE314_WORKER_HEARTBEAT_MAX_AGE = env_float("CORE314_WORKER_HEARTBEAT_MAX_AGE", 30.0)
CORE314_BEAT_MAX_AGE = env_float("CORE314_BEAT_MAX_AGE", 30.0)
CORE314_ADMIN_PASSWORD = env_optional("CORE314_ADMIN_PASSWORD")
# Health monitoring: the roll-up window (also the beat interval of the monitoring job), batch limits of the
# ingest API, and how long raw events and execution records are kept.
CORE314_ROLLUP_INTERVAL = env_int("CORE314_ROLLUP_INTERVAL", 10)
CORE314_PROBE_TICK = env_float("CORE314_PROBE_TICK", 2.0)
CORE314_INGEST_BATCH_LIMIT = env_int("CORE314_INGEST_BATCH_LIMIT", 1000)
CORE314_INGEST_RECORD_LIMIT = env_int("CORE314_INGEST_RECORD_LIMIT", 5000)
CORE314_RETENTION_DAYS = env_int("CORE314_RETENTION_DAYS", 30)
# Request bodies (core314.limits): at most CORE314_MAX_BODY bytes, except where a longer prefix below says more;
# the bulk ingest endpoints are sized for their item limits (CORE314_INGEST_ITEM_BYTES per item). Over the limit:
# a JSON 413, before anything parses the body.
CORE314_MAX_BODY = env_int("CORE314_MAX_BODY", 256 * 1024)
CORE314_INGEST_ITEM_BYTES = env_int("CORE314_INGEST_ITEM_BYTES", 2048)
CORE314_BODY_LIMITS = {
    "/api/v1/health-events/batch/": CORE314_INGEST_BATCH_LIMIT * CORE314_INGEST_ITEM_BYTES + 64 * 1024,
    "/api/v1/execution-records/bulk/": CORE314_INGEST_RECORD_LIMIT * CORE314_INGEST_ITEM_BYTES + 64 * 1024,
    "/api/v1/alerts/": 1024 * 1024,  # Alertmanager groups: up to 500 alerts with their labels and annotations
}
# Django's own cap (it answers an HTML 400 past it) sits at the largest of ours, which answer first.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(CORE314_MAX_BODY, *CORE314_BODY_LIMITS.values())
# Anomaly signals resolve themselves after the metric has been back in band this long (seconds).
CORE314_SIGNAL_RESOLVE_AFTER = env_int("CORE314_SIGNAL_RESOLVE_AFTER", 60)
# Signals of one component and its dependencies within this many seconds of an incident's last one join it.
CORE314_INCIDENT_WINDOW = env_int("CORE314_INCIDENT_WINDOW", 300)
# An incident that keeps coming back after repairs that worked: after this many episodes, a person is told.
CORE314_INCIDENT_MAX_EPISODES = env_int("CORE314_INCIDENT_MAX_EPISODES", 3)
# The healing budget above every per-component cap: automatic actions in flight, and started per minute, in
# all and per user. Past it, decisions wait (most severe first) and one storm escalation is sent.
CORE314_HEALING_MAX_IN_FLIGHT = env_int("CORE314_HEALING_MAX_IN_FLIGHT", 20)
CORE314_HEALING_MAX_PER_MINUTE = env_int("CORE314_HEALING_MAX_PER_MINUTE", 30)
CORE314_HEALING_MAX_IN_FLIGHT_PER_USER = env_int("CORE314_HEALING_MAX_IN_FLIGHT_PER_USER", 10)
CORE314_HEALING_MAX_PER_MINUTE_PER_USER = env_int("CORE314_HEALING_MAX_PER_MINUTE_PER_USER", 15)
# Scaling back in: how long the load must stay in its band before each step in (doubled when a scale-in was
# soon followed by another scale-out, up to an hour). Learning: a repair that failed this many times in a row on
# a component is demoted there; a policy becomes automatic after this many dry or approved runs that matched a
# repair that helped (or an administrator's reason). Replays read at most this many days and signals.
CORE314_SCALE_IN_COOLDOWN = env_int("CORE314_SCALE_IN_COOLDOWN", 300)
CORE314_DEMOTE_AFTER = env_int("CORE314_DEMOTE_AFTER", 3)
CORE314_PROMOTION_EVIDENCE = env_int("CORE314_PROMOTION_EVIDENCE", 3)
CORE314_REPLAY_MAX_DAYS = env_int("CORE314_REPLAY_MAX_DAYS", 30)
CORE314_REPLAY_MAX_SIGNALS = env_int("CORE314_REPLAY_MAX_SIGNALS", 20000)
# Healing: the longest an executor may run, how long approvals wait, the default verification window and
# cooldown, when a crash-loop backoff resets, and the blast-radius guard (share and minimum of failing components).
CORE314_ACTION_TIMEOUT = env_int("CORE314_ACTION_TIMEOUT", 30)
CORE314_APPROVAL_TTL = env_int("CORE314_APPROVAL_TTL", 900)
CORE314_VERIFY_AFTER = env_int("CORE314_VERIFY_AFTER", 60)
CORE314_DEFAULT_COOLDOWN = env_int("CORE314_DEFAULT_COOLDOWN", 10)
CORE314_BACKOFF_RESET = env_int("CORE314_BACKOFF_RESET", 600)
CORE314_BLAST_RADIUS_SHARE = env_float("CORE314_BLAST_RADIUS_SHARE", 0.5)
CORE314_BLAST_RADIUS_MIN = env_int("CORE314_BLAST_RADIUS_MIN", 3)
CORE314_HEALING_CYCLE = env_float("CORE314_HEALING_CYCLE", 5.0)
# After a deploy, an availability drop waits this long before healing acts (the deploy's own restart gap).
CORE314_DEPLOY_GRACE = env_int("CORE314_DEPLOY_GRACE", 20)
# The demo service make run starts (and the chaos benchmark uses).
CORE314_DEMO_PORT = env_int("CORE314_DEMO_PORT", 9100)
# Each demo replica also answers on a port of its own (this base + its number), for its readiness probe.
CORE314_DEMO_REPLICA_PORT_BASE = env_int("CORE314_DEMO_REPLICA_PORT_BASE", CORE314_DEMO_PORT + 1)
CORE314_DEMO_FAULTS = env_optional("CORE314_DEMO_FAULTS")
# Self-tests: how often beat runs the suite, and how much slower a check must get to count as a regression.
CORE314_SELFTEST_INTERVAL = env_int("CORE314_SELFTEST_INTERVAL", 300)
CORE314_SELFTEST_SLOWER_FACTOR = env_float("CORE314_SELFTEST_SLOWER_FACTOR", 3.0)
# Where the platform's own web server answers (for its self-probe); runstack sets it.
CORE314_PUBLIC_URL = env_optional("CORE314_PUBLIC_URL")
# The port the web server listens on (runstack's default); the egress guard refuses it on every local address.
CORE314_PORT = env_int("CORE314_PORT", 8314)
# Outbound connections to user-given targets pass core314.egress: loopback, link-local, multicast and reserved
# addresses are refused unless one of these networks (CIDR) contains them. Metadata and unspecified addresses and
# the platform's own PostgreSQL/Redis/web listeners stay refused to non-administrators whatever this says.
CORE314_EGRESS_ALLOW = env_list("CORE314_EGRESS_ALLOW", [])
try:
    egress.parse_networks(CORE314_EGRESS_ALLOW)
except ValueError as exc:
    raise ConfigError(str(exc)) from None

OPENAI_API_KEY = env_optional("OPENAI_API_KEY")
OPENAI_BASE_URL = env_optional("OPENAI_BASE_URL")
CORE314_LLM_MODEL = env_str("CORE314_LLM_MODEL", "gpt-4o")
CORE314_LLM_TIMEOUT = env_float("CORE314_LLM_TIMEOUT", 10.0)
CORE314_LLM_MAX_RETRIES = env_int("CORE314_LLM_MAX_RETRIES", 1)
CORE314_LLM_MAX_CALLS_PER_HOUR = env_int("CORE314_LLM_MAX_CALLS_PER_HOUR", 60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
