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
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "environment"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name", "environment"], name="component_owner_name_env")
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
            models.CheckConstraint(
                condition=_between("availability", 0, 1), name="health_availability_range"
            ),
            models.CheckConstraint(condition=_between("cpu_percent", 0, 100), name="health_cpu_range"),
            models.CheckConstraint(condition=_between("memory_percent", 0, 100), name="health_memory_range"),
            models.CheckConstraint(condition=_between("disk_percent", 0, 100), name="health_disk_range"),
            models.CheckConstraint(
                condition=_non_negative("throughput_rps"), name="health_throughput_nonneg"
            ),
            models.CheckConstraint(condition=_non_negative("latency_p50_ms"), name="health_p50_nonneg"),
            models.CheckConstraint(condition=_non_negative("latency_p95_ms"), name="health_p95_nonneg"),
            models.CheckConstraint(condition=_non_negative("latency_p99_ms"), name="health_p99_nonneg"),
            models.CheckConstraint(condition=Q(status__in=HealthStatus.values), name="health_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.component_id} {self.status} @ {self.window_start:%Y-%m-%d %H:%M:%S}"
