from django.contrib import admin

from anomalies.models import AnomalySignal, DetectionSettings, DetectorState, Silence
from core314.admin import OwnedAdminMixin


@admin.register(AnomalySignal)
class AnomalySignalAdmin(OwnedAdminMixin, admin.ModelAdmin):
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


@admin.register(Silence)
class SilenceAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["component", "kind", "starts_at", "ends_at", "reason", "owner"]
    list_filter = ["kind"]
    search_fields = ["reason", "component__name"]
    date_hierarchy = "starts_at"
    raw_id_fields = ["component"]


@admin.register(DetectionSettings)
class DetectionSettingsAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["component", "enabled", "threshold", "window", "min_duration", "min_history", "resolve_after_s"]
    list_filter = ["enabled"]
    search_fields = ["component__name"]
    raw_id_fields = ["component"]


@admin.register(DetectorState)
class DetectorStateAdmin(admin.ModelAdmin):
    list_display = ["component", "metric", "last_window_start", "updated_at"]
    search_fields = ["component__name", "metric"]
    readonly_fields = ["component", "metric", "state", "last_window_start", "updated_at"]
    list_filter = ["metric"]

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        # Not owned itself: scoped through its component, like everything else.
        from health.models import Component

        return super().get_queryset(request).filter(component__in=Component.objects.visible_to(request.user))

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False
