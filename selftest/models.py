from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from core314.tenancy import OwnedModel


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    ERROR = "error", "Error"


class CheckResult(models.TextChoices):
    PASS = "pass", "Pass"
    WARN = "warn", "Warn"
    FAIL = "fail", "Fail"
    ERROR = "error", "Error"
    SKIPPED = "skipped", "Skipped"


class SelfTestRun(OwnedModel):
    """One run of the diagnostic suite; its results hang off it."""

    trigger = models.CharField(max_length=16, default="schedule")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    health_score = models.FloatField(null=True, blank=True)
    categories = models.JSONField(default=list, blank=True)
    environment = models.CharField(max_length=50, blank=True)
    version = models.CharField(max_length=32, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["owner", "-started_at"], name="selftest_run_owner_started")]

    def __str__(self) -> str:
        return f"Self-test run #{self.pk} ({self.status})"


class SelfTestResult(OwnedModel):
    run = models.ForeignKey(SelfTestRun, on_delete=models.CASCADE, related_name="results")
    check_name = models.CharField(max_length=80)
    category = models.CharField(max_length=24)
    result = models.CharField(max_length=8, choices=CheckResult.choices)
    duration_ms = models.FloatField(default=0)
    score = models.FloatField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    environment = models.CharField(max_length=50, blank=True)
    version = models.CharField(max_length=32, blank=True)
    regression = models.BooleanField(default=False)
    improvement = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "selftest_results"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="selftest_owner_created"),
            models.Index(fields=["check_name", "-created_at"], name="selftest_check_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=0, score__lte=100), name="selftest_score_range"),
            models.CheckConstraint(condition=Q(duration_ms__gte=0), name="selftest_duration_nonneg"),
            models.CheckConstraint(condition=Q(result__in=CheckResult.values), name="selftest_result_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.check_name}: {self.result}"
