from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from anomalies.models import AnomalySignal, Incident
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


IN_FLIGHT = (ActionStatus.PENDING_APPROVAL, ActionStatus.APPROVED, ActionStatus.RUNNING)


class RecoveryPolicy(OwnedModel):
    """An owned rule mapping anomalies to actions: the first matching enabled policy (by priority) decides.

    ``chain`` lists the next steps (``[{"action_type": …, "parameters": {…}, "mode": …}]``, the mode defaulting
    to the policy's) tried when a step does not help; after the last one the engine escalates, never gives up
    silently.
    """

    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower is tried first.")
    kinds = models.JSONField(default=list, blank=True, help_text="Anomaly kinds matched; empty matches any.")
    metrics = models.JSONField(default=list, blank=True, help_text="Metrics matched (cpu_percent, …); empty: any.")
    min_severity = models.CharField(max_length=8, default="medium")
    component = models.ForeignKey(
        Component, on_delete=models.CASCADE, null=True, blank=True, related_name="recovery_policies"
    )
    component_type = models.CharField(max_length=20, blank=True)
    tag = models.CharField(max_length=50, blank=True)
    action_type = models.CharField(max_length=24, choices=ActionType.choices)
    parameters = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=10, choices=ActionMode.choices, default=ActionMode.APPROVAL)
    chain = models.JSONField(default=list, blank=True, help_text="Next steps when a step does not help.")
    cooldown_s = models.PositiveIntegerField(default=60, help_text="First wait before repeating an action.")
    max_cooldown_s = models.PositiveIntegerField(default=1800, help_text="The doubling wait stops here.")
    max_per_hour = models.PositiveSmallIntegerField(default=6, help_text="Runs per hour per component.")
    verify_after_s = models.PositiveIntegerField(default=60, help_text="Verification window after the action.")
    pinned = models.BooleanField(
        default=False, help_text="Keep the steps in this order; otherwise a chain starts with what has worked best."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "recovery policies"
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="policy_owner_name"),
            models.CheckConstraint(condition=Q(action_type__in=ActionType.values), name="policy_type_valid"),
            models.CheckConstraint(condition=Q(mode__in=ActionMode.values), name="policy_mode_valid"),
            models.CheckConstraint(condition=Q(cooldown_s__gte=1), name="policy_cooldown_positive"),
            models.CheckConstraint(condition=Q(max_per_hour__gte=1), name="policy_hourly_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def steps(self) -> list[dict[str, Any]]:
        return [{"action_type": self.action_type, "parameters": self.parameters}, *self.chain]


class RecoveryAction(OwnedModel):
    """One attempt to heal a component: planned, possibly approved, executed once, then judged."""

    policy = models.ForeignKey(RecoveryPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions")
    step = models.PositiveSmallIntegerField(default=0, help_text="Position in the policy's chain.")
    chain_order = models.JSONField(
        default=list, blank=True, help_text="The order this chain tries the policy's steps in; empty: as written."
    )
    signal = models.ForeignKey(
        AnomalySignal, on_delete=models.SET_NULL, null=True, blank=True, related_name="recovery_actions"
    )
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="recovery_actions")
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="recovery_actions"
    )
    episode = models.PositiveIntegerField(default=1, help_text="The incident's episode this action answered.")
    aftermath = models.JSONField(
        default=list, blank=True, help_text="Deviations this action caused while it was verified: recorded, not paged."
    )
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
    in_flight = models.BooleanField(default=False, help_text="Pending, approved, running or being verified.")
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A running action not done by then died.")
    claimed_by = models.CharField(max_length=200, blank=True)
    verify_after_s = models.PositiveIntegerField(null=True, blank=True, help_text="Verification window.")
    verify_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Looks taken at the result: a partial improvement gets a second window before the chain moves on.
    checks = models.PositiveSmallIntegerField(default=0)
    before_metrics = models.JSONField(null=True, blank=True)
    after_metrics = models.JSONField(null=True, blank=True)
    time_to_recover_s = models.FloatField(null=True, blank=True, help_text="Detection to recovery.")

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
            # One action in flight per component, held by the database rather than by a lock in memory.
            models.UniqueConstraint(fields=["component"], condition=Q(in_flight=True), name="recovery_one_in_flight"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_type_display()} #{self.pk} ({self.status})"


class DecisionOutcome(models.TextChoices):
    ACTED = "acted", "Action created"
    DEFERRED = "deferred", "Deferred"
    SKIPPED = "skipped", "Nothing to do"


class HealingDecision(OwnedModel):
    """What the engine decided for a signal at a severity: one row, so a burst of triggers decides once."""

    signal = models.ForeignKey(AnomalySignal, on_delete=models.CASCADE, related_name="healing_decisions")
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="healing_decisions"
    )
    episode = models.PositiveIntegerField(default=1)
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="healing_decisions")
    severity = models.CharField(max_length=8)
    outcome = models.CharField(max_length=8, choices=DecisionOutcome.choices)
    reason = models.CharField(max_length=300)
    retry_at = models.DateTimeField(null=True, blank=True)
    action = models.ForeignKey(RecoveryAction, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One decision per incident, episode and severity: a fault is decided once, again when it comes
            # back (a new episode), and again when it gets worse.
            models.UniqueConstraint(
                fields=["incident", "episode", "severity"], name="decision_one_per_incident_episode_severity"
            ),
        ]
        indexes = [models.Index(fields=["outcome", "retry_at"], name="decision_outcome_retry")]

    def __str__(self) -> str:
        return f"{self.outcome} for signal {self.signal_id}: {self.reason}"


class Backoff(OwnedModel):
    """Per (component, action): attempts that did not help and when the next is allowed (crash-loop backoff)."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="backoffs")
    action_type = models.CharField(max_length=24, choices=ActionType.choices)
    attempts = models.PositiveIntegerField(default=0)
    next_allowed_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["component", "action_type"], name="backoff_component_action")]

    def __str__(self) -> str:
        return f"{self.action_type} on {self.component}: {self.attempts} attempt(s)"


class HealingSwitch(models.Model):
    """The pause switch for automatic healing: one global row (``user`` empty) and one per user."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="healing_switch"
    )
    is_global = models.BooleanField(default=False, editable=False)
    paused = models.BooleanField(default=False)
    reason = models.CharField(max_length=300, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_global"], condition=Q(is_global=True), name="healing_one_global"),
            models.CheckConstraint(condition=Q(is_global=True) ^ Q(user__isnull=False), name="healing_global_or_user"),
        ]

    def __str__(self) -> str:
        who = self.user or "everyone"
        return f"healing for {who}: {'paused' if self.paused else 'on'}"


class Deployment(OwnedModel):
    """A component's deployment history: which version ran when and how; rollback goes to the last good one."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="deployments")
    version = models.CharField(max_length=64)
    spec = models.JSONField(default=dict, blank=True, help_text="How to run it (process: argv, env, cwd).")
    deployed_at = models.DateTimeField(default=timezone.now)
    deployed_by = models.CharField(max_length=150, blank=True)
    known_good = models.BooleanField(null=True, blank=True, help_text="Set by hand; else judged from health events.")

    class Meta:
        ordering = ["-deployed_at", "-id"]
        indexes = [models.Index(fields=["component", "-deployed_at"], name="deployment_component_at")]

    def __str__(self) -> str:
        return f"{self.component} {self.version} at {self.deployed_at:%Y-%m-%d %H:%M}"


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
    state = models.JSONField(default=dict, blank=True, help_text="What the actuator runs now (process: pids).")
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


# Below the models they point at: what the healer learned (scale-outs to undo, repairs that stopped working).
from recovery.models.learning import Demotion as Demotion  # noqa: E402 -- it refers to the models above
from recovery.models.learning import ScaleOut as ScaleOut  # noqa: E402
