from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core314.tenancy import OwnedModel
from health.models import Component


class AnomalyKind(models.TextChoices):
    LATENCY_SPIKE = "latency_spike", "Latency spike"
    ERROR_RATE_INCREASE = "error_rate_increase", "Error-rate increase"
    RESOURCE_EXHAUSTION = "resource_exhaustion", "Resource exhaustion"
    AVAILABILITY_DROP = "availability_drop", "Availability drop"
    THROUGHPUT_DROP = "throughput_drop", "Throughput drop"
    THROUGHPUT_SURGE = "throughput_surge", "Throughput surge"
    EXTERNAL_ALERT = "external_alert", "External alert"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class SignalStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class AnomalySignal(OwnedModel):
    """One ongoing incident of one kind on one metric of one component."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="anomaly_signals")
    kind = models.CharField(max_length=24, choices=AnomalyKind.choices)
    metric = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=SignalStatus.choices, default=SignalStatus.OPEN)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.MEDIUM)
    confidence = models.FloatField(default=0.5)
    observed_value = models.FloatField(null=True, blank=True)
    expected_value = models.FloatField(null=True, blank=True)
    band_low = models.FloatField(null=True, blank=True)
    band_high = models.FloatField(null=True, blank=True)
    deviation = models.FloatField(null=True, blank=True, help_text="Robust z-score of the observed value.")
    peak_value = models.FloatField(null=True, blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    explanation = models.TextField(blank=True)
    recommended_actions = models.JSONField(default=list, blank=True)
    root_cause = models.JSONField(null=True, blank=True)
    fingerprint = models.CharField(max_length=128, blank=True, help_text="Sender's id of an external alert.")
    cause = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="symptoms")
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "anomaly_signals"
        ordering = ["-last_seen_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "status", "-last_seen_at"], name="anomaly_owner_status_seen"),
            models.Index(fields=["component", "-last_seen_at"], name="anomaly_component_seen"),
            models.Index(fields=["-last_seen_at", "-id"], name="anomaly_seen_id"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["component", "kind", "metric"],
                condition=~Q(status="resolved"),
                name="anomaly_one_open_per_component_kind_metric",
            ),
            models.CheckConstraint(condition=Q(confidence__gte=0, confidence__lte=1), name="anomaly_confidence"),
            models.CheckConstraint(condition=Q(kind__in=AnomalyKind.values), name="anomaly_kind_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="anomaly_severity_valid"),
            models.CheckConstraint(condition=Q(status__in=SignalStatus.values), name="anomaly_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.metric} ({self.status})"
