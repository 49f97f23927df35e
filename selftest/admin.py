from django.contrib import admin

from core314.admin import OwnedAdminMixin
from selftest.models import SelfTestResult, SelfTestRun


@admin.register(SelfTestRun)
class SelfTestRunAdmin(OwnedAdminMixin, admin.ModelAdmin[SelfTestRun]):
    list_display = ["started_at", "trigger", "status", "health_score", "environment", "owner"]
    list_filter = ["status", "trigger", "environment"]
    search_fields = ["version", "environment"]
    date_hierarchy = "started_at"


@admin.register(SelfTestResult)
class SelfTestResultAdmin(OwnedAdminMixin, admin.ModelAdmin[SelfTestResult]):
    list_display = [
        "created_at",
        "check_name",
        "category",
        "result",
        "score",
        "duration_ms",
        "regression",
        "owner",
    ]
    list_filter = ["result", "category", "regression", "improvement"]
    search_fields = ["check_name", "message"]
    date_hierarchy = "created_at"
    raw_id_fields = ["run"]
