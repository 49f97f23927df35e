"""Running the self-test suite: results stored as they come (and pushed live), compared with the previous
result of the same check (regressions and improvements), summed up as a health score, and reported as a
health event of the platform's own ``core314-selftest`` component so the platform's loop sees a failure."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core314.changes import record_change
from core314.live import publish_on_commit
from core314.services import DomainError
from core314.tenancy import Actor, effective_owner
from selftest.models import CheckResult, RunStatus, SelfTestResult, SelfTestRun
from selftest.registry import CATEGORIES, Check, Outcome, checks_in, run_check

logger = logging.getLogger(__name__)

BAD = {CheckResult.FAIL, CheckResult.ERROR}


def compare(previous: SelfTestResult | None, outcome: Outcome, duration_ms: float) -> tuple[bool, bool, str]:
    """(regression, improvement, why) against the previous result of the same check."""
    if previous is None:
        return False, False, ""
    factor = settings.CORE314_SELFTEST_SLOWER_FACTOR
    was_bad, is_bad = previous.result in BAD, outcome.result in BAD
    if is_bad and not was_bad:
        return True, False, f"{previous.result} → {outcome.result}"
    if was_bad and not is_bad:
        return False, True, f"{previous.result} → {outcome.result}"
    if outcome.score <= previous.score - 10:
        return True, False, f"score {previous.score:.0f} → {outcome.score:.0f}"
    if outcome.score >= previous.score + 10:
        return False, True, f"score {previous.score:.0f} → {outcome.score:.0f}"
    # Durations this small are noise; only a real slowdown (or speed-up) counts.
    if duration_ms > max(previous.duration_ms * factor, previous.duration_ms + 50):
        return True, False, f"{previous.duration_ms:.0f} ms → {duration_ms:.0f} ms (over {factor:g} times slower)"
    if previous.duration_ms > max(duration_ms * factor, duration_ms + 50):
        return False, True, f"{previous.duration_ms:.0f} ms → {duration_ms:.0f} ms (over {factor:g} times faster)"
    return False, False, ""


def run_create(*, actor: Actor, trigger: str, categories: list[str] | None = None, owner: Any = None) -> SelfTestRun:
    categories = list(categories or [])
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise DomainError(f"Unknown categor{'ies' if len(unknown) > 1 else 'y'}: {', '.join(unknown)}.")
    owner = owner or (effective_owner(actor) if actor is not None else None)
    if owner is None:
        raise DomainError("No owner for the run (create an administrator first).")
    with transaction.atomic():
        return _create(actor, owner, trigger, categories)


def _create(actor: Actor, owner: Any, trigger: str, categories: list[str]) -> SelfTestRun:
    busy = SelfTestRun.objects.filter(owner=owner, status=RunStatus.RUNNING, started_at__gte=_stale())
    if trigger != "schedule" and busy.exists():
        raise DomainError("A run is already in progress; wait for it to finish.")
    run = SelfTestRun.objects.create(
        owner=owner,
        trigger=trigger,
        categories=categories,
        environment=settings.CORE314_ENVIRONMENT,
        version=settings.CORE314_VERSION,
    )
    record_change(
        actor=actor, system_label="selftest", action="selftest.run", target=run, after={"trigger": trigger},
        event="selftest.started",
    )  # fmt: skip
    return run


def _stale() -> Any:
    return timezone.now() - timedelta(minutes=10)


def run_execute(*, run_id: int, on_result: Callable[[SelfTestResult], None] | None = None) -> SelfTestRun | None:
    """Run the run's checks one by one; each result is stored (and pushed) as soon as it exists."""
    run = SelfTestRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, finished_at__isnull=True).first()
    if run is None:
        return None
    results = []
    for item in checks_in(run.categories or None):
        outcome, took = run_check(item)
        results.append(_store(run, item, outcome, took))
        if on_result is not None:
            on_result(results[-1])
    return _finish(run, results)


def _store(run: SelfTestRun, item: Check, outcome: Outcome, took: float) -> SelfTestResult:
    previous = (
        SelfTestResult.objects.filter(owner_id=run.owner_id, check_name=item.name)
        .order_by("-created_at", "-id")
        .first()
    )
    result = outcome.result if outcome.result in CheckResult.values else CheckResult.ERROR
    regression, improvement, why = compare(previous, outcome, took)
    metrics = dict(outcome.metrics)
    if why:
        metrics["change"] = why
    with transaction.atomic():
        row = SelfTestResult.objects.create(
            owner_id=run.owner_id,
            run=run,
            check_name=item.name,
            category=item.category,
            result=result,
            duration_ms=round(took, 2),
            score=max(0.0, min(100.0, float(outcome.score))),
            metrics=metrics,
            message=outcome.message[:2000],
            environment=run.environment,
            version=run.version,
            regression=regression,
            improvement=improvement,
        )
        publish_on_commit(row=row, event="selftest.result", data={"result": result, "check": item.name})
    return row


def _finish(run: SelfTestRun, results: list[SelfTestResult]) -> SelfTestRun:
    scored = [r.score for r in results if r.result != CheckResult.SKIPPED]
    failed = [r for r in results if r.result in BAD]
    with transaction.atomic():
        run = SelfTestRun.objects.select_for_update().get(pk=run.pk)
        run.health_score = round(sum(scored) / len(scored), 1) if scored else None
        run.status = RunStatus.FAILED if failed else RunStatus.PASSED
        run.finished_at = timezone.now()
        run.save()
        record_change(
            actor=None,
            system_label="selftest",
            action=f"selftest.{run.status}",
            target=run,
            after={"score": run.health_score, "failed": [r.check_name for r in failed]},
            event="selftest.finished",
            data={"status": run.status},
        )
    _report(run, results, failed)
    return run


def _report(run: SelfTestRun, results: list[SelfTestResult], failed: list[SelfTestResult]) -> None:
    """The run as a health event of the platform's own self-test component (the loop watches itself)."""
    from health.models import Component
    from health.services import health_events_ingest

    component = Component.objects.filter(owner_id=run.owner_id, name="core314-selftest", is_platform=True).first()
    if component is None or not results:
        return
    passed = sum(1 for r in results if r.result not in BAD)
    finished_at = run.finished_at or run.started_at  # set by _finish, before this report
    event = {
        "component": component.pk,
        "window_start": run.started_at.isoformat(),
        "window_end": max(finished_at, run.started_at + timedelta(milliseconds=1)).isoformat(),
        "status": "healthy" if not failed else ("critical" if len(failed) > 2 else "unhealthy"),
        "availability": passed / len(results),
        "error_rate": len(failed) / len(results),
        "request_count": len(results),
        "error_count": len(failed),
        "metadata": {"run": run.pk, "failed": [f"{r.check_name}: {r.message}"[:200] for r in failed]},
    }
    try:
        health_events_ingest(actor=run.owner, items=[event])
    except DomainError:
        logger.exception("could not record self-test run %s as a health event", run.pk)


def run_scheduled() -> SelfTestRun | None:
    """Beat's run, owned by the platform's administrator."""
    from selftest.drill import platform_owner

    owner = platform_owner()
    if owner is None:
        return None
    run = run_create(actor=None, trigger="schedule", owner=owner)
    return run_execute(run_id=run.pk)


@transaction.atomic
def run_now(*, actor: Actor, categories: list[str] | None = None) -> SelfTestRun:
    """A person's "run now": the run is created here and executed by a worker, results arriving live."""
    from selftest.tasks import execute

    run = run_create(actor=actor, trigger="manual", categories=categories)
    transaction.on_commit(lambda: execute.delay(run.pk))
    return run
