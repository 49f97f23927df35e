from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from anomalies.models import AnomalySignal
from core314.tenancy import OwnedModel
from health.models import Component


class ActionType(models.TextChoices):
    RESTART_FUNCTION = "restart_function", "Restart"
    SCALE_UP = "scale_up", "Scale up"
    SCALE_DOWN = "scale_down", "Scale down"
    CLEAR_CACHE = "clear_cache", "Clear cache"
    RESET_CONNECTION = "reset_connection", "Reset connections"
    ROLLBACK_DEPLOYMENT = "rollback_deployment", "Roll back deployment"
    CIRCUIT_BREAKER = "circuit_breaker", "Circuit breaker"
    ALERT_ESCALATION = "alert_escalation", "Escalate"


class ActionMode(models.TextChoices):
    AUTOMATIC = "automatic", "Automatic"
    APPROVAL = "approval", "Needs approval"
    DRY_RUN = "dry_run", "Dry run only"


class ActionStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"


class Verdict(models.TextChoices):
    RESOLVED = "resolved", "Resolved"
    IMPROVED = "improved", "Improved"
    NO_EFFECT = "no_effect", "No effect"
    WORSE = "worse", "Worse"


class RecoveryAction(OwnedModel):
    """One attempt to heal a component: planned, possibly approved, executed once, then judged."""

    signal = models.ForeignKey(
        AnomalySignal, on_delete=models.SET_NULL, null=True, blank=True, related_name="recovery_actions"
    )
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="recovery_actions")
    action_type = models.CharField(max_length=24, choices=ActionType.choices)
    parameters = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=10, choices=ActionMode.choices, default=ActionMode.APPROVAL)
    status = models.CharField(max_length=16, choices=ActionStatus.choices, default=ActionStatus.PENDING_APPROVAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    plan = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    verdict = models.CharField(max_length=10, choices=Verdict.choices, blank=True)
    effectiveness = models.FloatField(null=True, blank=True, help_text="0..1, from the metrics that followed.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "recovery_actions"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "status", "-created_at"], name="recovery_owner_status_created"),
            models.Index(fields=["component", "-created_at"], name="recovery_component_created"),
            models.Index(fields=["-created_at", "-id"], name="recovery_created_id"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(action_type__in=ActionType.values), name="recovery_type_valid"),
            models.CheckConstraint(condition=Q(status__in=ActionStatus.values), name="recovery_status_valid"),
            models.CheckConstraint(condition=Q(mode__in=ActionMode.values), name="recovery_mode_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_type_display()} #{self.pk} ({self.status})"


class BreakerState(models.TextChoices):
    CLOSED = "closed", "Closed (traffic flows)"
    OPEN = "open", "Open (calls are refused)"
    HALF_OPEN = "half_open", "Half-open (trial calls)"


class CircuitBreaker(OwnedModel):
    """A real breaker per component. Clients ask it before calling; the platform's probes respect it.

    Open → after ``cooldown_s`` it turns half-open by itself; in half-open, ``trial_successes`` good trials
    close it and one failure opens it again with the cooldown doubled (up to ``max_cooldown_s``).
    """

    component = models.OneToOneField(Component, on_delete=models.CASCADE, related_name="circuit_breaker")
    state = models.CharField(max_length=10, choices=BreakerState.choices, default=BreakerState.CLOSED)
    reason = models.CharField(max_length=300, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    half_open_at = models.DateTimeField(null=True, blank=True, help_text="When an open breaker starts trials.")
    cooldown_s = models.PositiveIntegerField(default=30)
    base_cooldown_s = models.PositiveIntegerField(default=30)
    max_cooldown_s = models.PositiveIntegerField(default=600)
    trial_successes = models.PositiveSmallIntegerField(default=2)
    trial_passed = models.PositiveSmallIntegerField(default=0)
    times_opened = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(state__in=BreakerState.values), name="breaker_state_valid"),
            models.CheckConstraint(condition=Q(cooldown_s__gte=1), name="breaker_cooldown_positive"),
        ]

    def __str__(self) -> str:
        return f"breaker of {self.component} ({self.state})"

    def effective_state(self, now: Any) -> str:
        """The state as of ``now``: an open breaker whose cooldown has passed is half-open."""
        if self.state == BreakerState.OPEN and self.half_open_at is not None and now >= self.half_open_at:
            return BreakerState.HALF_OPEN
        return self.state


class EscalationTarget(OwnedModel):
    """Who is told when healing escalates: e-mail, a Slack-compatible webhook, a PagerDuty Events v2 endpoint.

    One per owner (``component`` empty) plus optional per-component overrides.
    """

    component = models.OneToOneField(
        Component, on_delete=models.CASCADE, null=True, blank=True, related_name="escalation_target"
    )
    emails = models.JSONField(default=list, blank=True, help_text="A list of e-mail addresses.")
    slack_webhook_url = models.URLField(blank=True, help_text="Slack (or compatible) incoming-webhook URL.")
    pagerduty_url = models.URLField(
        blank=True, default="", help_text="Events API v2 endpoint, e.g. https://events.pagerduty.com/v2/enqueue"
    )
    pagerduty_routing_key = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner"], condition=Q(component__isnull=True), name="escalation_one_default_per_owner"
            )
        ]

    def __str__(self) -> str:
        return f"escalation for {self.component or 'all components'}"


class ActuatorKind(models.TextChoices):
    PROCESS = "process", "Local process (supervised)"
    WEBHOOK = "webhook", "HTTP webhook"
    CELERY = "celery", "Celery workers"
    CACHE = "cache", "Redis or Django cache"
    POSTGRES = "postgres", "PostgreSQL server"


class Actuator(OwnedModel):
    """How the platform acts on a component. ``config`` is validated per kind by recovery.actuators."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="actuators")
    kind = models.CharField(max_length=10, choices=ActuatorKind.choices)
    config = models.JSONField(default=dict)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["component", "kind"], name="actuator_one_per_component_kind"),
            models.CheckConstraint(condition=Q(kind__in=ActuatorKind.values), name="actuator_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} actuator of {self.component}"
