from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone

from core314.tenancy import Actor
from selftest.models import CheckResult, SelfTestResult, SelfTestRun


def result_list(*, actor: Actor, run_id: int | None = None, check: str = "") -> QuerySet[SelfTestResult]:
    """Check results; filters: ``selftest.filters.ResultFilter``."""
    queryset = SelfTestResult.objects.visible_to(actor).select_related("run")
    if run_id is not None:
        queryset = queryset.filter(run_id=run_id)
    if check:
        queryset = queryset.filter(check_name=check)
    return queryset


def run_list(*, actor: Actor) -> QuerySet[SelfTestRun]:
    return SelfTestRun.objects.visible_to(actor)


def latest_run(*, actor: Actor) -> SelfTestRun | None:
    return SelfTestRun.objects.visible_to(actor).order_by("-started_at", "-id").first()


def latest_finished_run(*, actor: Actor) -> SelfTestRun | None:
    return SelfTestRun.objects.visible_to(actor).filter(finished_at__isnull=False).order_by("-started_at").first()


def result_counts(*, actor: Actor, run: SelfTestRun | None = None) -> dict[str, int]:
    counts = dict.fromkeys(CheckResult.values, 0)
    rows = SelfTestResult.objects.visible_to(actor)
    if run is not None:
        rows = rows.filter(run=run)
    counts.update(dict(rows.order_by().values_list("result").annotate(n=Count("id"))))
    return counts


def score_trend(*, actor: Actor, runs: int = 60) -> dict[str, Any]:
    """Health score of the last runs, for the trend chart."""
    rows = list(
        SelfTestRun.objects.visible_to(actor)
        .filter(health_score__isnull=False)
        .order_by("-started_at")
        .values_list("started_at", "health_score")[:runs]
    )[::-1]
    # A minute of margin either side, so a single run is a visible point, not a zero-width axis.
    start = rows[0][0].timestamp() - 60 if rows else 0
    end = rows[-1][0].timestamp() + 60 if rows else 0
    return {
        "timestamps": [at.timestamp() for at, _ in rows],
        "series": [{"name": "health score", "values": [score for _, score in rows]}],
        "start": start,
        "end": max(end, start + 1),
    }


def deadman(*, now: datetime | None = None) -> dict[str, Any]:
    """Has the scheduled suite run in the last three intervals? (platform-wide: it watches the platform)"""
    from django_celery_beat.models import PeriodicTask

    now = now or timezone.now()
    interval = settings.CORE314_SELFTEST_INTERVAL
    last = (
        SelfTestRun.objects.filter(trigger="schedule")
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    limit = timedelta(seconds=3 * interval)
    if last is not None and now - last <= limit:
        return {"ok": True, "detail": f"last scheduled run {(now - last).total_seconds():.0f} s ago", "last": last}
    # A stack that started less than three intervals ago has had no chance yet (beat's schedule is written
    # at every start).
    task = PeriodicTask.objects.filter(name="selftest-suite").first()
    if last is None and task is not None and now - task.date_changed <= limit:
        return {"ok": True, "detail": "no scheduled run yet (the stack started recently)", "last": None}
    since = f"{(now - last).total_seconds() / 60:.0f} min" if last else "ever"
    return {
        "ok": False,
        "detail": f"the self-tests have not run for {since} (expected every {interval} s): is beat or the worker down?",
        "last": last,
    }


def summary(*, actor: Actor) -> dict[str, Any]:
    """The original design's self-test summary: the latest run, its counts, regressions, the trend."""
    run = latest_finished_run(actor=actor)
    results = result_list(actor=actor, run_id=run.pk) if run else SelfTestResult.objects.none()
    by_category: dict[str, dict[str, int]] = {}
    for category, result, n in results.order_by().values_list("category", "result").annotate(n=Count("id")):
        by_category.setdefault(category, {})[result] = n
    recent = SelfTestRun.objects.visible_to(actor).filter(health_score__isnull=False).order_by("-started_at")[:10]
    scores = [r.health_score for r in recent if r.health_score is not None]  # all are (the filter above)
    return {
        "latest_run": run.pk if run else None,
        "status": run.status if run else None,
        "health_score": run.health_score if run else None,
        "finished_at": run.finished_at if run else None,
        "counts": result_counts(actor=actor, run=run) if run else dict.fromkeys(CheckResult.values, 0),
        "by_category": by_category,
        "regressions": list(results.filter(regression=True).values_list("check_name", flat=True)),
        "improvements": list(results.filter(improvement=True).values_list("check_name", flat=True)),
        "mean_score_last_10": round(sum(scores) / len(scores), 1) if scores else None,
        "deadman": {k: v for k, v in deadman().items() if k != "last"},
    }
