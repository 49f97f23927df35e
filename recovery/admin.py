from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from core314.admin import OwnedAdminMixin
from recovery import services
from recovery.actuators import keep_secrets, redacted, spec_shown
from recovery.models import (
    Actuator,
    Backoff,
    BreakerState,
    CircuitBreaker,
    Demotion,
    Deployment,
    EscalationTarget,
    HealingDecision,
    HealingSwitch,
    RecoveryAction,
    RecoveryPolicy,
    ScaleOut,
)


@admin.register(RecoveryAction)
class RecoveryActionAdmin(OwnedAdminMixin, admin.ModelAdmin[RecoveryAction]):
    list_display = ["created_at", "component", "action_type", "mode", "status", "verdict", "effectiveness", "owner"]
    list_filter = ["status", "action_type", "mode", "verdict", "in_flight"]
    search_fields = ["component__name", "reason", "error"]
    date_hierarchy = "created_at"
    list_select_related = ["component", "owner"]
    raw_id_fields = ["component", "signal", "policy"]


class RecoveryPolicyForm(forms.ModelForm[RecoveryPolicy]):
    promotion_reason = forms.CharField(
        required=False,
        max_length=500,
        help_text="To make it automatic without a track record of dry or approved runs that helped: why.",
    )


@admin.register(RecoveryPolicy)
class RecoveryPolicyAdmin(OwnedAdminMixin, admin.ModelAdmin[RecoveryPolicy]):
    form = RecoveryPolicyForm
    list_display = [
        "name", "priority", "enabled", "action_type", "mode", "pinned", "min_severity", "max_per_hour", "owner",
    ]  # fmt: skip
    list_filter = ["enabled", "action_type", "mode", "pinned", "min_severity"]
    search_fields = ["name", "owner__username", "tag"]
    raw_id_fields = ["component"]

    deletable = True

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> RecoveryPolicy:
        reason = form.cleaned_data.get("promotion_reason", "")
        if change:
            fields = {
                name: form.cleaned_data[name] for name in form.changed_data if name not in {"owner", "promotion_reason"}
            }
            return services.policy_save(
                actor=request.user, owner=obj.owner, policy=obj, promotion_reason=reason, **fields
            )
        fields = {name: value for name, value in form.cleaned_data.items() if name not in {"owner", "promotion_reason"}}
        owner = form.cleaned_data.get("owner") or request.user
        return services.policy_save(actor=request.user, owner=owner, **fields)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.policy_delete(actor=request.user, policy=obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for policy in queryset:
            services.policy_delete(actor=request.user, policy=policy)


@admin.register(HealingDecision)
class HealingDecisionAdmin(OwnedAdminMixin, admin.ModelAdmin[HealingDecision]):
    list_display = ["created_at", "signal", "component", "severity", "outcome", "reason", "retry_at"]
    list_filter = ["outcome", "severity"]
    search_fields = ["component__name", "reason"]
    date_hierarchy = "created_at"
    raw_id_fields = ["signal", "component", "action"]


@admin.register(Backoff)
class BackoffAdmin(OwnedAdminMixin, admin.ModelAdmin[Backoff]):
    list_display = ["component", "action_type", "attempts", "next_allowed_at", "last_attempt_at"]
    list_filter = ["action_type"]
    search_fields = ["component__name"]
    raw_id_fields = ["component"]


@admin.register(Deployment)
class DeploymentAdmin(OwnedAdminMixin, admin.ModelAdmin[Deployment]):
    list_display = ["component", "version", "deployed_at", "deployed_by", "known_good"]
    list_filter = ["known_good"]
    search_fields = ["component__name", "version"]
    date_hierarchy = "deployed_at"
    raw_id_fields = ["component"]
    exclude = ["owner"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # History is not rewritten: only whether a version is known good may change.
        if obj is not None:
            return ["component", "version", "shown_spec", "deployed_at", "deployed_by"]
        return ["deployed_by"]

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["owner", "spec"] if obj is not None else ["owner"]

    @admin.display(description="spec")
    def shown_spec(self, obj: Deployment) -> str:
        import json

        return json.dumps(spec_shown(obj.spec or {}), indent=1)  # a process's env and argv may hold secrets

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Deployment:
        data = form.cleaned_data
        if change:
            return services.deployment_mark(actor=request.user, deployment=obj, known_good=data.get("known_good"))
        return services.deployment_record(
            actor=request.user,
            component=data["component"],
            version=data["version"],
            spec=data.get("spec") or {},
            known_good=data.get("known_good"),
        )


@admin.register(HealingSwitch)
class HealingSwitchAdmin(admin.ModelAdmin[HealingSwitch]):
    list_display = ["__str__", "is_global", "paused", "reason", "changed_by", "changed_at"]
    list_filter = ["paused", "is_global"]
    search_fields = ["user__username", "reason"]
    raw_id_fields = ["user"]

    # The switch is flipped on the Recovery Manager page or the API (audited), not here.
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(OwnedAdminMixin, admin.ModelAdmin[CircuitBreaker]):
    """Open or close a component's breaker by hand (as on the API): through the breaker's own transitions."""

    list_display = ["component", "state", "reason", "opened_at", "half_open_at", "cooldown_s", "times_opened", "owner"]
    list_filter = ["state"]
    search_fields = ["component__name", "reason"]
    raw_id_fields = ["component"]
    fields = ["component", "state", "reason", "base_cooldown_s", "opened_at", "half_open_at", "times_opened"]
    readonly_fields = ["opened_at", "half_open_at", "trial_passed", "times_opened"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*self.readonly_fields, "component"] if obj is not None else self.readonly_fields

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> CircuitBreaker:
        data = form.cleaned_data
        component = data.get("component") or obj.component
        reason = data.get("reason") or "changed in the admin"
        if data.get("state") == BreakerState.CLOSED:
            return services.breaker_close(actor=request.user, component=component, reason=reason)
        return services.breaker_open(
            actor=request.user, component=component, reason=reason, cooldown_s=data.get("base_cooldown_s")
        )


class EscalationTargetForm(forms.ModelForm[EscalationTarget]):
    """The Slack webhook URL and the PagerDuty routing key are secrets: never rendered back. Left empty, the
    stored value stays; tick "clear" to remove it."""

    slack_webhook_url = forms.URLField(
        required=False, assume_scheme="https", widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored URL.",
    )  # fmt: skip
    pagerduty_routing_key = forms.CharField(
        required=False, max_length=64, widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored key.",
    )  # fmt: skip
    clear_slack = forms.BooleanField(required=False, label="Clear the Slack webhook")
    clear_pagerduty = forms.BooleanField(required=False, label="Clear the PagerDuty routing key")

    class Meta:
        model = EscalationTarget
        fields = ["component", "emails", "slack_webhook_url", "pagerduty_url", "pagerduty_routing_key"]


@admin.register(EscalationTarget)
class EscalationTargetAdmin(OwnedAdminMixin, admin.ModelAdmin[EscalationTarget]):
    form = EscalationTargetForm
    # A URL typed without a scheme is taken as https (Django 6's default, chosen now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["__str__", "owner", "emails", "slack_set", "pagerduty_set", "updated_at"]
    search_fields = ["component__name", "owner__username"]
    raw_id_fields = ["component"]
    deletable = True

    @admin.display(boolean=True, description="Slack")
    def slack_set(self, obj: EscalationTarget) -> bool:
        return bool(obj.slack_webhook_url)

    @admin.display(boolean=True, description="PagerDuty")
    def pagerduty_set(self, obj: EscalationTarget) -> bool:
        return bool(obj.pagerduty_url and obj.pagerduty_routing_key)

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> EscalationTarget:
        data = form.cleaned_data
        stored = EscalationTarget.objects.filter(pk=obj.pk).first() if change else None
        slack = (
            "" if data.get("clear_slack") else data.get("slack_webhook_url") or getattr(stored, "slack_webhook_url", "")
        )
        key = (
            ""
            if data.get("clear_pagerduty")
            else data.get("pagerduty_routing_key") or getattr(stored, "pagerduty_routing_key", "")
        )
        component = data.get("component")
        return services.escalation_target_save(
            actor=request.user,
            owner=component.owner if component is not None else (stored.owner if stored else request.user),
            component=component,
            emails=data.get("emails") or [],
            slack_webhook_url=slack,
            pagerduty_url=data.get("pagerduty_url", ""),
            pagerduty_routing_key=key,
        )


class ActuatorForm(forms.ModelForm[Actuator]):
    """The config is shown with its secrets, passwords and tokens replaced; leave those as shown to keep them."""

    class Meta:
        model = Actuator
        fields = ["component", "kind", "config", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["config"] = redacted(self.instance.kind, self.instance.config or {})
        self.fields["config"].help_text = "Secrets are shown as •••••••• or [REDACTED…]: leave them to keep them."


@admin.register(Actuator)
class ActuatorAdmin(OwnedAdminMixin, admin.ModelAdmin[Actuator]):
    list_display = ["component", "kind", "enabled", "updated_at", "owner"]
    list_filter = ["kind", "enabled"]
    search_fields = ["component__name"]
    raw_id_fields = ["component"]

    form = ActuatorForm
    readonly_fields = ["state"]
    deletable = True

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Actuator:
        # Through the service: per-kind validation, admin-only kinds, redacted audit entry. The config was
        # shown redacted: what was left as shown keeps its stored secret.
        data = form.cleaned_data
        stored = Actuator.objects.filter(pk=obj.pk).first() if change else None
        config = keep_secrets(stored.config, data["config"]) if stored is not None else data["config"]
        return services.actuator_save(
            actor=request.user, component=data["component"], kind=data["kind"], config=config,
            enabled=data.get("enabled", True),
        )  # fmt: skip


@admin.register(Demotion)
class DemotionAdmin(OwnedAdminMixin, admin.ModelAdmin[Demotion]):
    """Read-only here: a repair is restored on the Recovery Manager or through the API, with a reason."""

    list_display = ["created_at", "component", "action_type", "reason", "cleared_at", "cleared_by"]
    list_filter = ["action_type", ("cleared_at", admin.EmptyFieldListFilter)]
    search_fields = ["component__name", "reason", "clear_reason"]
    date_hierarchy = "created_at"
    list_select_related = ["component", "cleared_by"]


@admin.register(ScaleOut)
class ScaleOutAdmin(OwnedAdminMixin, admin.ModelAdmin[ScaleOut]):
    list_display = ["started_at", "component", "metric", "from_replicas", "replicas", "steps", "ended_at", "waiting"]
    list_filter = ["metric", ("ended_at", admin.EmptyFieldListFilter)]
    search_fields = ["component__name", "end_reason", "waiting"]
    date_hierarchy = "started_at"
    list_select_related = ["component"]
