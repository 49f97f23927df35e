from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from core314.admin import OwnedAdminMixin
from health import services, thresholds
from health.models import Component, ExecutionRecord, Probe, SystemHealthEvent


class ComponentForm(forms.ModelForm[Component]):
    class Meta:
        model = Component
        fields = [
            "owner", "name", "type", "environment", "description", "tags", "depends_on", "is_platform",
            "thresholds", "flap_bad_n", "flap_window_m", "flap_recover_k", "stale_after_s",
        ]  # fmt: skip

    def clean_thresholds(self) -> Any:
        value = self.cleaned_data["thresholds"] or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Give a JSON object of metric → [degraded, unhealthy, critical].")
        problems = thresholds.validate_thresholds(value)
        if problems:
            raise forms.ValidationError(problems)
        return value


SETTINGS = ("flap_bad_n", "flap_window_m", "flap_recover_k", "stale_after_s")


@admin.register(Component)
class ComponentAdmin(OwnedAdminMixin, admin.ModelAdmin[Component]):
    form = ComponentForm
    list_display = ["name", "type", "environment", "status", "last_report_at", "owner", "is_platform"]
    list_filter = ["status", "type", "environment", "is_platform"]
    readonly_fields = ["status", "status_reason", "status_changed_at", "last_report_at"]
    search_fields = ["name", "description", "owner__username"]
    filter_horizontal = ["depends_on"]
    list_select_related = ["owner"]
    deletable = True

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A component's owner and its platform mark are set when it is made.
        return [*self.readonly_fields, "owner", "is_platform"] if obj is not None else self.readonly_fields

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Component:
        data = form.cleaned_data
        fields = {name: data[name] for name in services.COMPONENT_FIELDS if name in data}
        if change:
            component = services.component_update(
                actor=request.user, component=obj, depends_on=data.get("depends_on", []), **fields
            )
        else:
            component = services.component_create(
                actor=request.user,
                owner=data.get("owner") or request.user,
                is_platform=data.get("is_platform", False),
                depends_on=data.get("depends_on", []),
                **fields,
            )
        return services.component_update_settings(
            actor=request.user,
            component=component,
            thresholds_override=data.get("thresholds") or {},
            **{name: data[name] for name in SETTINGS if data.get(name) is not None},
        )


@admin.register(SystemHealthEvent)
class SystemHealthEventAdmin(OwnedAdminMixin, admin.ModelAdmin[SystemHealthEvent]):
    list_display = ["window_start", "component", "status", "source", "latency_p95_ms", "error_rate", "owner"]
    list_filter = ["status", "source", "component__type"]
    search_fields = ["component__name", "version", "region"]
    date_hierarchy = "window_start"
    list_select_related = ["component", "owner"]
    raw_id_fields = ["component"]
    show_full_result_count = False  # a COUNT(*) over millions of events on every page view is wasteful


@admin.register(ExecutionRecord)
class ExecutionRecordAdmin(OwnedAdminMixin, admin.ModelAdmin[ExecutionRecord]):
    list_display = ["started_at", "component", "source", "ok", "duration_ms", "error_kind", "owner"]
    list_filter = ["source", "ok", "error_kind"]
    search_fields = ["component__name", "message", "error_kind"]
    date_hierarchy = "started_at"
    list_select_related = ["component", "owner"]
    raw_id_fields = ["component"]
    show_full_result_count = False


class ProbeForm(forms.ModelForm[Probe]):
    """The target is shown with its password masked; left as shown, the stored secret is kept."""

    class Meta:
        model = Probe
        fields = [
            "owner", "component", "kind", "target", "interval_s", "timeout_s", "expected_status", "body_match",
            "options", "enabled", "next_run_at",
        ]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["target"] = self.instance.shown_target
        if "target" in self.fields:
            self.fields["target"].help_text = "A password is shown as ••••••••: leave it so to keep it."


@admin.register(Probe)
class ProbeAdmin(OwnedAdminMixin, admin.ModelAdmin[Probe]):
    form = ProbeForm
    list_display = ["component", "kind", "shown_target", "interval_s", "enabled", "last_ok", "last_run_at", "owner"]
    list_filter = ["kind", "enabled", "last_ok"]
    # Not the target: a search over it would answer guesses of the password it holds.
    search_fields = ["component__name"]
    list_select_related = ["component", "owner"]
    readonly_fields = ["last_run_at", "last_ok", "last_error", "state"]
    deletable = True

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*self.readonly_fields, "component"] if obj is not None else self.readonly_fields

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Probe:
        data = dict(form.cleaned_data)
        data.pop("owner", None)
        component = data.pop("component", None) or obj.component
        fields = {name: data[name] for name in services.PROBE_FIELDS if name in data}
        if change:
            return services.probe_update(actor=request.user, probe=obj, **fields)
        return services.probe_create(actor=request.user, component=component, **fields)
