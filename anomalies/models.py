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
    THRESHOLD_BREACH = "threshold_breach", "Threshold breach"
    NO_DATA = "no_data", "No data"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class SignalStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Feedback(models.TextChoices):
    REAL = "real", "Real"
    FALSE_ALARM = "false_alarm", "False alarm"


class Incident(OwnedModel):
    """One fault: the signals it raised on a component and on the components that depend on it (or it on
    them), close in time. One page, one healing decision per episode; it lives in episodes, each time it
    deviates again after it was back in band or after an action."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="incidents")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=12, choices=SignalStatus.choices, default=SignalStatus.OPEN)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.MEDIUM)
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    episode = models.PositiveIntegerField(default=1)
    episode_started_at = models.DateTimeField(default=timezone.now)
    silenced = models.BooleanField(default=False, help_text="Opened during a silence: recorded, not acted on.")
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)
    feedback = models.CharField(max_length=12, choices=Feedback.choices, blank=True)
    feedback_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    feedback_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "anomaly_incidents"
        ordering = ["-last_seen_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "status", "-last_seen_at"], name="incident_owner_status_seen"),
            models.Index(fields=["component", "status"], name="incident_component_status"),
            models.Index(fields=["-last_seen_at", "-id"], name="incident_seen_id"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="incident_severity_valid"),
            models.CheckConstraint(condition=Q(status__in=SignalStatus.values), name="incident_status_valid"),
            models.CheckConstraint(condition=Q(episode__gte=1), name="incident_episode_positive"),
        ]

    def __str__(self) -> str:
        return f"incident #{self.pk}: {self.title} ({self.status})"


class AnomalySignal(OwnedModel):
    """One ongoing deviation of one kind on one metric of one component (a member of an incident)."""

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
    silenced = models.BooleanField(default=False, help_text="Opened during a silence: recorded, not acted on.")
    window_start = models.DateTimeField(null=True, blank=True, help_text="Window of the last anomalous event.")
    normal_since = models.DateTimeField(null=True, blank=True, help_text="Back in band since; resolves later.")
    cause = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="symptoms")
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="signals", db_index=True
    )
    feedback = models.CharField(max_length=12, choices=Feedback.choices, blank=True)
    feedback_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    feedback_at = models.DateTimeField(null=True, blank=True)
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


class DetectorState(models.Model):
    """What the detector learned about one metric of one component; survives restarts.

    Not owned by itself: it is reached only through its component (which is), by the detection service.
    """

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="detector_states")
    metric = models.CharField(max_length=64)
    state = models.JSONField(default=dict)
    last_window_start = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["component", "metric"], name="detector_state_component_metric")]

    def __str__(self) -> str:
        return f"{self.component_id}:{self.metric}"


class DetectionSettings(OwnedModel):
    """Per-component overrides of the detector's defaults (the original design hard-coded them)."""

    component = models.OneToOneField(Component, on_delete=models.CASCADE, related_name="detection_settings")
    enabled = models.BooleanField(default=True)
    threshold = models.FloatField(null=True, blank=True, help_text="Sensitivity: robust z to open (default 5).")
    window = models.PositiveIntegerField(null=True, blank=True, help_text="Baseline window in events (default 60).")
    min_duration = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Events in a row (default 1).")
    min_history = models.PositiveIntegerField(null=True, blank=True, help_text="Warm-up events (default 24).")
    resolve_after_s = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds back in band before a signal resolves itself (default 60)."
    )
    freeze = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Events of an open incident kept out of the baseline (default 0: learn them). For services whose "
        "incidents are discrete faults that must never become the new normal.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "detection settings"

    def __str__(self) -> str:
        return f"detection settings of {self.component}"


class Silence(OwnedModel):
    """A maintenance window: matching signals are still recorded but neither notify nor trigger healing.

    One-off (``starts_at`` to ``ends_at``), or recurring: a ``cron`` expression in ``time_zone`` opens a window of
    ``duration_s`` each time it fires, between ``starts_at`` and ``ends_at``. It covers a component, or every
    component whose name matches ``match_name`` (a shell pattern), that carries ``match_tag``, or is of
    ``match_type``; and one kind of signal or all. When a window ends, the signals still open that it silenced
    are decided again.
    """

    component = models.ForeignKey(Component, on_delete=models.CASCADE, null=True, blank=True, related_name="silences")
    kind = models.CharField(max_length=24, choices=AnomalyKind.choices, blank=True)
    match_name = models.CharField(max_length=100, blank=True, help_text="Components whose name matches (web-*).")
    match_tag = models.CharField(max_length=40, blank=True, help_text="Components carrying this tag.")
    match_type = models.CharField(max_length=20, blank=True, help_text="Components of this type.")
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    cron = models.CharField(max_length=100, blank=True, help_text="Recurring: when each window opens (cron).")
    duration_s = models.PositiveIntegerField(null=True, blank=True, help_text="Recurring: how long each window lasts.")
    time_zone = models.CharField(max_length=64, default="UTC", help_text="Recurring: the cron's time zone.")
    released_at = models.DateTimeField(
        null=True, blank=True, help_text="The end of the last window whose silenced signals were decided again."
    )
    reason = models.CharField(max_length=300)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["owner", "ends_at"], name="silence_owner_ends")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="silence_ends_after_start"),
            models.CheckConstraint(
                condition=Q(component__isnull=False)
                | ~Q(kind="")
                | ~Q(match_name="")
                | ~Q(match_tag="")
                | ~Q(match_type=""),
                name="silence_names_what_it_covers",
            ),
            models.CheckConstraint(condition=Q(cron="") | Q(duration_s__gte=60), name="silence_recurring_has_duration"),
        ]

    def __str__(self) -> str:
        what = self.component or self.match_name or self.match_tag or self.match_type or "all"
        when = f"{self.cron} for {self.duration_s} s" if self.cron else f"until {self.ends_at:%Y-%m-%d %H:%M}"
        return f"silence {what} {self.kind or 'any kind'} {when}"
