from typing import Any

from django.contrib import admin
from django.db import models

from core314.admin import OwnedAdminMixin
from recovery.models import (
    Actuator,
    Backoff,
    CircuitBreaker,
    Deployment,
    EscalationTarget,
    HealingDecision,
    HealingSwitch,
    RecoveryAction,
    RecoveryPolicy,
)


@admin.register(RecoveryAction)
class RecoveryActionAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "component", "action_type", "mode", "status", "verdict", "effectiveness", "owner"]
    list_filter = ["status", "action_type", "mode", "verdict", "in_flight"]
    search_fields = ["component__name", "reason", "error"]
    date_hierarchy = "created_at"
    list_select_related = ["component", "owner"]
    raw_id_fields = ["component", "signal", "policy"]

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        # Actions change state only through the engine's services (approve, reject, cancel on the page/API).
        return False


@admin.register(RecoveryPolicy)
class RecoveryPolicyAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "priority", "enabled", "action_type", "mode", "min_severity", "max_per_hour", "owner"]
    list_filter = ["enabled", "action_type", "mode", "min_severity"]
    search_fields = ["name", "owner__username", "tag"]
    raw_id_fields = ["component"]

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        from recovery import services

        fields = {name: form.cleaned_data[name] for name in form.changed_data if name != "owner"}
        if change:
            services.policy_save(actor=request.user, owner=obj.owner, policy=obj, **fields)
        else:
            fields = {name: value for name, value in form.cleaned_data.items() if name != "owner"}
            saved = services.policy_save(actor=request.user, owner=obj.owner, **fields)
            obj.pk = saved.pk


@admin.register(HealingDecision)
class HealingDecisionAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "signal", "component", "severity", "outcome", "reason", "retry_at"]
    list_filter = ["outcome", "severity"]
    search_fields = ["component__name", "reason"]
    date_hierarchy = "created_at"
    raw_id_fields = ["signal", "component", "action"]

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Backoff)
class BackoffAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["component", "action_type", "attempts", "next_allowed_at", "last_attempt_at"]
    list_filter = ["action_type"]
    search_fields = ["component__name"]
    raw_id_fields = ["component"]


@admin.register(Deployment)
class DeploymentAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["component", "version", "deployed_at", "deployed_by", "known_good"]
    list_filter = ["known_good"]
    search_fields = ["component__name", "version"]
    date_hierarchy = "deployed_at"
    raw_id_fields = ["component"]


@admin.register(HealingSwitch)
class HealingSwitchAdmin(admin.ModelAdmin):
    list_display = ["__str__", "is_global", "paused", "reason", "changed_by", "changed_at"]
    list_filter = ["paused", "is_global"]
    search_fields = ["user__username", "reason"]
    raw_id_fields = ["user"]

    def has_add_permission(self, request: Any) -> bool:
        return False  # the switch is flipped on the Recovery Manager page or the API (audited)

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["component", "state", "reason", "opened_at", "half_open_at", "cooldown_s", "times_opened", "owner"]
    list_filter = ["state"]
    search_fields = ["component__name", "reason"]
    raw_id_fields = ["component"]
    readonly_fields = ["opened_at", "half_open_at", "trial_passed", "times_opened"]


@admin.register(EscalationTarget)
class EscalationTargetAdmin(OwnedAdminMixin, admin.ModelAdmin):
    # A URL typed without a scheme is taken as https (Django 6's default, chosen now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["__str__", "owner", "slack_webhook_url", "pagerduty_url", "updated_at"]
    search_fields = ["component__name", "owner__username"]
    raw_id_fields = ["component"]


@admin.register(Actuator)
class ActuatorAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["component", "kind", "enabled", "updated_at", "owner"]
    list_filter = ["kind", "enabled"]
    search_fields = ["component__name"]
    raw_id_fields = ["component"]

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        # Through the service: per-kind validation, admin-only kinds, redacted audit entry.
        from recovery import services

        saved = services.actuator_save(
            actor=request.user, component=obj.component, kind=obj.kind, config=obj.config, enabled=obj.enabled
        )
        obj.pk = saved.pk
