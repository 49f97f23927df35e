"""What the healer learned and must remember: the scale-outs it made (to scale back in once the load is back in
its band) and the repairs that stopped working on a component (demoted there until they help again)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core314.tenancy import OwnedModel


class ScaleOut(OwnedModel):
    """Replicas the healer added to a component, until it has scaled back in (or a person set the count)."""

    component = models.ForeignKey("health.Component", on_delete=models.CASCADE, related_name="scale_outs")
    action = models.ForeignKey(
        "recovery.RecoveryAction", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    signal = models.ForeignKey(
        "anomalies.AnomalySignal", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    metric = models.CharField(max_length=64, help_text="The load that has to be back in its band.")
    band_high = models.FloatField(null=True, blank=True, help_text="Its normal band's top when it scaled out.")
    from_replicas = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The count before.")
    replicas = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The count now, as last seen.")
    steps = models.PositiveSmallIntegerField(default=0, help_text="Replicas added and not yet removed.")
    cooldown_s = models.PositiveIntegerField(help_text="How long the load stays in band before each step in.")
    started_at = models.DateTimeField(default=timezone.now)
    last_step_at = models.DateTimeField(default=timezone.now, help_text="The last scale out or in.")
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=300, blank=True)
    waiting = models.CharField(max_length=300, blank=True, help_text="Why it has not scaled in yet.")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["owner", "-started_at"], name="scaleout_owner_started")]
        constraints = [
            models.UniqueConstraint(fields=["component"], condition=Q(ended_at__isnull=True), name="scaleout_one_open")
        ]

    def __str__(self) -> str:
        return f"scale-out of {self.component} ({self.from_replicas} → {self.replicas})"


class Demotion(OwnedModel):
    """A repair that failed three times in a row on a component: tried there only after every other step."""

    component = models.ForeignKey("health.Component", on_delete=models.CASCADE, related_name="demotions")
    action_type = models.CharField(max_length=24)
    reason = models.CharField(max_length=300)
    actions = models.JSONField(default=list, help_text="The failed actions, newest first.")
    created_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    clear_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="demotion_owner_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["component", "action_type"], condition=Q(cleared_at__isnull=True), name="demotion_one_active"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action_type} demoted on {self.component}"
