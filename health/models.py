"""Components and their health over time.

Conventions: ``error_rate`` and ``availability`` are fractions in 0..1; CPU, memory and disk are
utilisation percentages in 0..100; latencies are milliseconds; throughput is requests per second.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core314.tenancy import OwnedModel


class ComponentType(models.TextChoices):
    API = "api", "API"
    EDGE_FUNCTION = "edge_function", "Edge function"
    DATABASE = "database", "Database"
    CACHE = "cache", "Cache"
    QUEUE = "queue", "Queue"
    WORKER = "worker", "Worker"
    INTEGRATION = "integration", "Integration"
    EXTERNAL = "external", "External"


class HealthStatus(models.TextChoices):
    HEALTHY = "healthy", "Healthy"
    DEGRADED = "degraded", "Degraded"
    UNHEALTHY = "unhealthy", "Unhealthy"
    CRITICAL = "critical", "Critical"


class ComponentStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    HEALTHY = "healthy", "Healthy"
    DEGRADED = "degraded", "Degraded"
    UNHEALTHY = "unhealthy", "Unhealthy"
    CRITICAL = "critical", "Critical"
    STALE = "stale", "Stale (not reporting)"


class Component(OwnedModel):
    """A service, database, cache or worker that the platform watches (and later acts on)."""

    name = models.CharField(max_length=100)
    type = models.CharField(max_length=20, choices=ComponentType.choices, default=ComponentType.API)
    environment = models.CharField(max_length=50, default="production")
    description = models.CharField(max_length=300, blank=True)
    tags = models.JSONField(default=list, blank=True, help_text="A list of short labels.")
    depends_on = models.ManyToManyField(
        "self", symmetrical=False, related_name="dependents", blank=True, help_text="What it needs to work."
    )
    is_platform = models.BooleanField(default=False, help_text="One of Core314's own parts.")

    # Status: what the monitoring job last decided, after flap damping.
    status = models.CharField(max_length=10, choices=ComponentStatus.choices, default=ComponentStatus.UNKNOWN)
    status_reason = models.CharField(max_length=300, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    last_report_at = models.DateTimeField(null=True, blank=True, help_text="Last event, record or probe.")

    thresholds = models.JSONField(
        default=dict,
        blank=True,
        help_text='Overrides of the type\'s defaults, e.g. {"latency_p95_ms": [300, 1000, 3000]}: the values '
        "at which the component becomes degraded, unhealthy, critical (for availability: at or below).",
    )
    flap_bad_n = models.PositiveSmallIntegerField(
        default=2, help_text="Turn worse only when this many of the last M windows are bad."
    )
    flap_window_m = models.PositiveSmallIntegerField(default=3, help_text="M: windows looked at.")
    flap_recover_k = models.PositiveSmallIntegerField(default=2, help_text="Turn better after K good windows.")
    stale_after_s = models.PositiveIntegerField(
        default=60, help_text="Seconds of silence after which the component is stale, not healthy."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "environment"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name", "environment"], name="component_owner_name_env"),
            models.CheckConstraint(
                condition=Q(flap_bad_n__gte=1, flap_window_m__gte=F("flap_bad_n"), flap_recover_k__gte=1),
                name="component_damping_sane",
            ),
        ]

    def __str__(self) -> str:
        return self.name if self.environment == "production" else f"{self.name} ({self.environment})"


class EventSource(models.TextChoices):
    PUSH = "push", "Pushed"
    PROBE = "probe", "Probe"
    ROLLUP = "rollup", "Roll-up"
    SELFTEST = "selftest", "Self-test"


def _between(field: str, low: float, high: float) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": low, f"{field}__lte": high})


def _non_negative(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0})


class SystemHealthEvent(OwnedModel):
    """The health of one component over one half-open window [window_start, window_end)."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="health_events")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    source = models.CharField(max_length=10, choices=EventSource.choices, default=EventSource.PUSH)
    status = models.CharField(max_length=10, choices=HealthStatus.choices)

    latency_avg_ms = models.FloatField(null=True, blank=True)
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p95_ms = models.FloatField(null=True, blank=True)
    latency_p99_ms = models.FloatField(null=True, blank=True)
    latency_max_ms = models.FloatField(null=True, blank=True)
    request_count = models.PositiveBigIntegerField(default=0)
    error_count = models.PositiveBigIntegerField(default=0)
    timeout_count = models.PositiveBigIntegerField(default=0)
    error_rate = models.FloatField(null=True, blank=True, help_text="Fraction of requests that failed, 0..1.")
    availability = models.FloatField(null=True, blank=True, help_text="Fraction of time available, 0..1.")
    throughput_rps = models.FloatField(null=True, blank=True)
    cpu_percent = models.FloatField(null=True, blank=True)
    memory_percent = models.FloatField(null=True, blank=True)
    disk_percent = models.FloatField(null=True, blank=True)
    connections = models.PositiveIntegerField(null=True, blank=True)
    queue_depth = models.PositiveIntegerField(null=True, blank=True)
    version = models.CharField(max_length=64, blank=True)
    region = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "system_health_events"
        ordering = ["-window_start", "-id"]
        indexes = [
            models.Index(fields=["component", "-window_start"], name="health_component_window"),
            models.Index(fields=["owner", "-window_start"], name="health_owner_window"),
            models.Index(fields=["-window_start", "-id"], name="health_window_id"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(window_end__gt=F("window_start")), name="health_window_order"),
            models.CheckConstraint(condition=_between("error_rate", 0, 1), name="health_error_rate_range"),
            models.CheckConstraint(condition=_between("availability", 0, 1), name="health_availability_range"),
            models.CheckConstraint(condition=_between("cpu_percent", 0, 100), name="health_cpu_range"),
            models.CheckConstraint(condition=_between("memory_percent", 0, 100), name="health_memory_range"),
            models.CheckConstraint(condition=_between("disk_percent", 0, 100), name="health_disk_range"),
            models.CheckConstraint(condition=_non_negative("throughput_rps"), name="health_throughput_nonneg"),
            models.CheckConstraint(condition=_non_negative("latency_p50_ms"), name="health_p50_nonneg"),
            models.CheckConstraint(condition=_non_negative("latency_p95_ms"), name="health_p95_nonneg"),
            models.CheckConstraint(condition=_non_negative("latency_p99_ms"), name="health_p99_nonneg"),
            models.CheckConstraint(condition=Q(status__in=HealthStatus.values), name="health_status_valid"),
            # The monitoring job upserts one roll-up per component and window.
            models.UniqueConstraint(
                fields=["component", "window_start"],
                condition=Q(source="rollup"),
                name="health_one_rollup_per_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.component_id} {self.status} @ {self.window_start:%Y-%m-%d %H:%M:%S}"


class ExecutionRecord(OwnedModel):
    """One call a service made (pushed) or one probe run; the monitoring job rolls these into events."""

    class Source(models.TextChoices):
        PUSH = "push", "Pushed"
        PROBE = "probe", "Probe"

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="execution_records")
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    ok = models.BooleanField()
    error_kind = models.CharField(max_length=40, blank=True, help_text="e.g. timeout, http_500, refused.")
    message = models.CharField(max_length=500, blank=True, help_text="Sanitised: no secrets, e-mails or IPs.")
    source = models.CharField(max_length=5, choices=Source.choices, default=Source.PUSH)
    gauges = models.JSONField(null=True, blank=True, help_text="Probe readings: cpu_percent, connections, …")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "execution_log"
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["component", "started_at"], name="exec_component_started"),
            models.Index(fields=["started_at"], name="exec_started"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(duration_ms__gte=0), name="exec_duration_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.component_id} {'ok' if self.ok else self.error_kind or 'error'} {self.duration_ms:.0f} ms"


class ProbeKind(models.TextChoices):
    HTTP = "http", "HTTP(S)"
    TCP = "tcp", "TCP connect"
    POSTGRES = "postgres", "PostgreSQL"
    REDIS = "redis", "Redis"
    PROMETHEUS = "prometheus", "Prometheus /metrics scrape"
    PLATFORM = "platform", "Core314 internal (worker or beat)"


class Probe(OwnedModel):
    """A check the platform runs against a component on a schedule."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="probes")
    kind = models.CharField(max_length=10, choices=ProbeKind.choices)
    target = models.CharField(
        max_length=500,
        help_text="URL for http/prometheus, host:port for tcp, a DSN for postgres/redis, worker or beat for platform.",
    )
    interval_s = models.PositiveIntegerField(default=10)
    timeout_s = models.FloatField(default=2.0)
    expected_status = models.PositiveSmallIntegerField(null=True, blank=True, default=200)
    body_match = models.CharField(max_length=200, blank=True, help_text="HTTP: text the body must contain.")
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text='Prometheus: {"series": [{"metric": …, "field": …, "kind": gauge|rate|quantile}]}.',
    )
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_ok = models.BooleanField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    state = models.JSONField(default=dict, blank=True, help_text="Counter samples kept between scrapes.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["component", "kind"]
        constraints = [
            models.CheckConstraint(condition=Q(interval_s__gte=1), name="probe_interval_positive"),
            models.CheckConstraint(condition=Q(timeout_s__gt=0, timeout_s__lte=60), name="probe_timeout_range"),
            models.CheckConstraint(condition=Q(kind__in=ProbeKind.values), name="probe_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} probe of {self.component}"

    @property
    def shown_target(self) -> str:
        """The target as people see it: a URL's password and secret query values masked (write-only)."""
        from core314.redact import url_shown

        return url_shown(self.target)
