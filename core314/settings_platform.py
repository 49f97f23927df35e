"""The platform's own settings (``CORE314_*`` and the LLM's), read from the environment; ``core314.settings``
takes them all. Each says what it tunes; the README lists them."""

from __future__ import annotations

from core314 import egress
from core314.envconf import ConfigError, env_bool, env_float, env_int, env_list, env_optional, env_str

DEBUG = env_bool("DEBUG", False)

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
