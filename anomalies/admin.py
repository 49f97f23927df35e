from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from anomalies import services
from anomalies.models import AnomalySignal, DetectionSettings, DetectorState, Incident, Silence
from core314.admin import OwnedAdminMixin


@admin.register(AnomalySignal)
class AnomalySignalAdmin(OwnedAdminMixin, admin.ModelAdmin[AnomalySignal]):
    list_display = [
        "last_seen_at",
        "component",
        "kind",
        "metric",
        "severity",
        "status",
        "occurrences",
        "owner",
    ]
    list_filter = ["status", "severity", "kind"]
    search_fields = ["component__name", "metric", "explanation", "fingerprint"]
    date_hierarchy = "last_seen_at"
    list_select_related = ["component", "owner"]
    raw_id_fields = ["component", "cause"]


@admin.register(Incident)
class IncidentAdmin(OwnedAdminMixin, admin.ModelAdmin[Incident]):
    """Read-only here: incidents are acknowledged, resolved and judged on the Anomaly Console and the API."""

    list_display = ["last_seen_at", "title", "component", "severity", "status", "episode", "feedback", "owner"]
    list_filter = ["status", "severity", "feedback", "silenced"]
    search_fields = ["title", "component__name", "resolution_note"]
    date_hierarchy = "last_seen_at"
    list_select_related = ["component", "owner"]
    raw_id_fields = ["component"]


@admin.register(Silence)
class SilenceAdmin(OwnedAdminMixin, admin.ModelAdmin[Silence]):
    list_display = ["component", "kind", "starts_at", "ends_at", "reason", "owner"]
    list_filter = ["kind"]
    search_fields = ["reason", "component__name"]
    date_hierarchy = "starts_at"
    raw_id_fields = ["component"]
    exclude = ["owner", "created_by"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # What a silence covers is fixed when it is made: end it and make another.
        return ["component", "kind", "starts_at"] if obj is not None else []

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Silence:
        data = form.cleaned_data
        if change:
            return services.silence_update(
                actor=request.user, silence=obj, ends_at=data.get("ends_at"), reason=data.get("reason")
            )
        return services.silence_create(
            actor=request.user,
            component=data.get("component"),
            kind=data.get("kind", ""),
            starts_at=data.get("starts_at") or timezone.now(),
            ends_at=data["ends_at"],
            reason=data.get("reason", ""),
        )


@admin.register(DetectionSettings)
class DetectionSettingsAdmin(OwnedAdminMixin, admin.ModelAdmin[DetectionSettings]):
    list_display = ["component", "enabled", "threshold", "window", "min_duration", "min_history", "resolve_after_s"]
    list_filter = ["enabled"]
    search_fields = ["component__name"]
    raw_id_fields = ["component"]
    exclude = ["owner"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["component"] if obj is not None else []

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> DetectionSettings:
        data = dict(form.cleaned_data)
        component = data.pop("component", None) or obj.component
        return services.detection_settings_update(actor=request.user, component=component, **data)


@admin.register(DetectorState)
class DetectorStateAdmin(admin.ModelAdmin[DetectorState]):
    list_display = ["component", "metric", "last_window_start", "updated_at"]
    search_fields = ["component__name", "metric"]
    readonly_fields = ["component", "metric", "state", "last_window_start", "updated_at"]
    list_filter = ["metric"]

    def get_queryset(self, request: HttpRequest) -> Any:
        # Not owned itself: scoped through its component, like everything else.
        from health.models import Component

        return super().get_queryset(request).filter(component__in=Component.objects.visible_to(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
