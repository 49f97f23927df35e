"""The beat cycle: the safety net behind the on-commit triggers of every other step."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from anomalies.models import AnomalySignal, Incident, SignalStatus
from recovery.models import ActionStatus, DecisionOutcome, HealingDecision, RecoveryAction
from recovery.services.actions import execution_enqueue
from recovery.services.arbiter import SEVERITY_RANK
from recovery.services.breakers import breakers_promote
from recovery.services.decide import heal_signal
from recovery.services.execute import action_execute
from recovery.services.operator import approval_expire
from recovery.services.scalein import scale_in_sweep
from recovery.services.verify import action_verify


def healing_cycle(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Pick up whatever on-commit triggers missed: expiring approvals, lost runs, due verifications,
    undecided or deferred signals, breakers due for trials. Each item is its own transaction."""
    now = now or timezone.now()
    done = dict.fromkeys(("expired", "lost", "requeued", "verified", "decided", "half_open", "scaled_in"), 0)
    expiring = RecoveryAction.objects.filter(status=ActionStatus.PENDING_APPROVAL, approval_expires_at__lte=now)
    for action_id in expiring.values_list("pk", flat=True)[:limit]:
        done["expired"] += approval_expire(action_id, now)
    lost = RecoveryAction.objects.filter(status=ActionStatus.RUNNING, lease_until__lte=now)
    for action_id in lost.values_list("pk", flat=True)[:limit]:
        action_execute(action_id=action_id, now=now)
        done["lost"] += 1
    stuck = RecoveryAction.objects.filter(status=ActionStatus.APPROVED, created_at__lte=now - timedelta(seconds=30))
    for action_id in stuck.values_list("pk", flat=True)[:limit]:
        execution_enqueue(action_id)
        done["requeued"] += 1
    due = RecoveryAction.objects.filter(status=ActionStatus.SUCCEEDED, in_flight=True, verify_at__lte=now)
    for action_id in due.values_list("pk", flat=True)[:limit]:
        action_verify(action_id=action_id, now=now)
        done["verified"] += 1
    # Incidents with no decision for their current episode and severity (an announcement lost to a broker
    # hiccup), and signals not yet in an incident; then deferred decisions that are due.
    decided = HealingDecision.objects.filter(
        incident=OuterRef("pk"), episode=OuterRef("episode"), severity=OuterRef("severity")
    )
    undecided = (
        Incident.objects.exclude(status=SignalStatus.RESOLVED)
        .filter(silenced=False, last_seen_at__gte=now - timedelta(days=1))
        .exclude(Exists(decided))
        .annotate(lead=Subquery(AnomalySignal.objects.filter(incident=OuterRef("pk")).values("pk")[:1]))
        .values_list("lead", flat=True)[:limit]
    )
    orphans = (
        AnomalySignal.objects.exclude(status=SignalStatus.RESOLVED)
        .filter(incident__isnull=True, silenced=False, last_seen_at__gte=now - timedelta(days=1))
        .values_list("pk", flat=True)[:limit]
    )
    # Deferred decisions that are due, the most severe first (the healing budget's queue is served in that order).
    retry = (
        HealingDecision.objects.filter(outcome=DecisionOutcome.DEFERRED, retry_at__lte=now)
        .annotate(rank=SEVERITY_RANK)
        .order_by("-rank", "created_at")
        .values_list("signal_id", flat=True)[:limit]
    )
    ordered = dict.fromkeys([*retry, *undecided, *orphans])
    for signal_id in [pk for pk in ordered if pk is not None]:
        heal_signal(signal_id=signal_id, now=now)
        done["decided"] += 1
    done["half_open"] = breakers_promote(now=now)
    done["scaled_in"] = scale_in_sweep(now=now, limit=limit)
    return done
