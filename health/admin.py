from django.contrib import admin

from core314.admin import OwnedAdminMixin
from health.models import Component, SystemHealthEvent


@admin.register(Component)
class ComponentAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "type", "environment", "owner", "is_platform", "updated_at"]
    list_filter = ["type", "environment", "is_platform"]
    search_fields = ["name", "description", "owner__username"]
    filter_horizontal = ["depends_on"]
    list_select_related = ["owner"]


@admin.register(SystemHealthEvent)
class SystemHealthEventAdmin(OwnedAdminMixin, admin.ModelAdmin):
    list_display = ["window_start", "component", "status", "source", "latency_p95_ms", "error_rate", "owner"]
    list_filter = ["status", "source", "component__type"]
    search_fields = ["component__name", "version", "region"]
    date_hierarchy = "window_start"
    list_select_related = ["component", "owner"]
    raw_id_fields = ["component"]
    show_full_result_count = False  # a COUNT(*) over millions of events on every page view is wasteful
