from __future__ import annotations

from django.db.models import Count, QuerySet

from core314.tenancy import Actor
from selftest.models import CheckResult, SelfTestResult, SelfTestRun


def result_list(*, actor: Actor, result: str = "", category: str = "") -> QuerySet[SelfTestResult]:
    queryset = SelfTestResult.objects.visible_to(actor)
    if result:
        queryset = queryset.filter(result=result)
    if category:
        queryset = queryset.filter(category=category)
    return queryset


def latest_run(*, actor: Actor) -> SelfTestRun | None:
    return SelfTestRun.objects.visible_to(actor).order_by("-started_at", "-id").first()


def result_counts(*, actor: Actor) -> dict[str, int]:
    counts = dict.fromkeys(CheckResult.values, 0)
    rows = SelfTestResult.objects.visible_to(actor).order_by().values_list("result").annotate(n=Count("id"))
    counts.update(dict(rows))
    return counts
