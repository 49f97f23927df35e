from typing import Any

from django.contrib import admin
from django.db import models

from core314.admin import OwnedAdminMixin
from recovery.models import Actuator, CircuitBreaker, EscalationTarget, RecoveryAction


@admin.register(RecoveryAction)
class RecoveryActionAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "component", "action_type", "mode", "status", "verdict", "owner"]
    list_filter = ["status", "action_type", "mode", "verdict"]
    search_fields = ["component__name", "reason", "error"]
    date_hierarchy = "created_at"
    list_select_related = ["component", "owner"]
    raw_id_fields = ["component", "signal"]


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
