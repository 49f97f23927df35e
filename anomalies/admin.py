from django.contrib import admin

from anomalies.models import AnomalySignal
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
