"""One arbiter for every automatic action: a platform-wide budget of actions in flight and started per minute,
per user and in all, above the per-component caps and the blast-radius guard, so a storm of signals never
becomes a storm of restarts. What waits is a deferred decision, retried by the beat cycle most severe first,
and shown on the Recovery Manager as the queue."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Case, IntegerField, QuerySet, Value, When

from recovery.models import ActionMode, ActionStatus, ActionType, DecisionOutcome, HealingDecision, RecoveryAction

QUEUED = "waiting for the healing budget"
SEVERITY_RANK = Case(
    When(severity="critical", then=Value(4)),
    When(severity="high", then=Value(3)),
    When(severity="medium", then=Value(2)),
    default=Value(1),
    output_field=IntegerField(),
)


def budget_lock() -> None:
    """Decisions that would start an action take their turn platform-wide (a transaction-scoped lock), so
    two workers never both see one slot left."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('core314.healing-budget'))")


def budget_full(*, owner_id: int, now: datetime) -> str:
    """Why no automatic action may start now ("" when one may): the budgets and what they count."""
    acting = RecoveryAction.objects.exclude(action_type=ActionType.ALERT_ESCALATION).exclude(mode=ActionMode.DRY_RUN)
    in_flight = acting.filter(in_flight=True)
    recent = acting.filter(created_at__gte=now - timedelta(minutes=1)).exclude(
        status__in=[ActionStatus.REJECTED, ActionStatus.CANCELLED, ActionStatus.EXPIRED]
    )
    limits = [
        (in_flight.count(), settings.CORE314_HEALING_MAX_IN_FLIGHT, "actions in flight across the platform"),
        (recent.count(), settings.CORE314_HEALING_MAX_PER_MINUTE, "actions started in the last minute"),
        (in_flight.filter(owner_id=owner_id).count(), settings.CORE314_HEALING_MAX_IN_FLIGHT_PER_USER,
         "of this user's actions in flight"),
        (recent.filter(owner_id=owner_id).count(), settings.CORE314_HEALING_MAX_PER_MINUTE_PER_USER,
         "of this user's actions in the last minute"),
    ]  # fmt: skip
    for used, limit, what in limits:
        if used >= limit:
            return f"{QUEUED}: {used} {what} (at most {limit})"
    return ""


def queue(*, owner_id: int | None = None) -> QuerySet[HealingDecision]:
    """Decisions waiting for the budget, most severe and oldest first."""
    waiting = HealingDecision.objects.filter(outcome=DecisionOutcome.DEFERRED, reason__startswith=QUEUED)
    if owner_id is not None:
        waiting = waiting.filter(owner_id=owner_id)
    return waiting.annotate(rank=SEVERITY_RANK).order_by("-rank", "created_at")
