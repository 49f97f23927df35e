from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet
from django.utils import timezone

from core314.tenancy import Actor, effective_owner_id
from recovery.models import (
    ActionMode,
    ActionStatus,
    ActionType,
    Actuator,
    Backoff,
    CircuitBreaker,
    Demotion,
    Deployment,
    EscalationTarget,
    HealingDecision,
    HealingSwitch,
    RecoveryAction,
    RecoveryPolicy,
    ScaleOut,
    Verdict,
)

FINISHED = (ActionStatus.SUCCEEDED, ActionStatus.FAILED)


def action_list(*, actor: Actor) -> QuerySet[RecoveryAction]:
    """Recovery actions, newest first; filters: ``recovery.filters.ActionFilter``."""
    return (
        RecoveryAction.objects.visible_to(actor)
        .select_related("component", "signal", "policy")
        .order_by("-created_at", "-id")
    )


def policy_list(*, actor: Actor) -> QuerySet[RecoveryPolicy]:
    return RecoveryPolicy.objects.visible_to(actor).select_related("component").order_by("priority", "id")


def decision_list(*, actor: Actor) -> QuerySet[HealingDecision]:
    return HealingDecision.objects.visible_to(actor).select_related("component", "action").order_by("-created_at")


def backoff_list(*, actor: Actor) -> QuerySet[Backoff]:
    return Backoff.objects.visible_to(actor).select_related("component").order_by("component_id", "action_type")


def deployment_list(*, actor: Actor) -> QuerySet[Deployment]:
    return Deployment.objects.visible_to(actor).select_related("component")


def escalation_target_list(*, actor: Actor) -> QuerySet[EscalationTarget]:
    return EscalationTarget.objects.visible_to(actor).select_related("component").order_by("id")


def actuator_list(*, actor: Actor) -> QuerySet[Actuator]:
    return Actuator.objects.visible_to(actor).select_related("component").order_by("id")


def action_status_counts(*, actor: Actor) -> dict[str, int]:
    counts = dict.fromkeys(ActionStatus.values, 0)
    rows = RecoveryAction.objects.visible_to(actor).order_by().values_list("status").annotate(n=Count("id"))
    counts.update(dict(rows))
    return counts


_RATE_AGGREGATES = {
    "total": Count("id"),
    "finished": Count("id", filter=Q(status__in=FINISHED)),
    "succeeded": Count("id", filter=Q(status=ActionStatus.SUCCEEDED)),
    "judged": Count("id", filter=~Q(verdict="")),
    "helped": Count("id", filter=Q(verdict__in=[Verdict.RESOLVED, Verdict.IMPROVED])),
    "effectiveness": Avg("effectiveness"),
    "mttr": Avg("time_to_recover_s"),
}


def _shape(totals: dict[str, Any]) -> dict[str, Any]:
    return {
        "total": totals["total"],
        "succeeded": totals["succeeded"],
        "failed": totals["finished"] - totals["succeeded"],
        "success_rate": round(totals["succeeded"] / totals["finished"], 4) if totals["finished"] else None,
        "helped_rate": round(totals["helped"] / totals["judged"], 4) if totals["judged"] else None,
        "effectiveness": round(totals["effectiveness"], 4) if totals["effectiveness"] is not None else None,
        "mean_time_to_recover_s": round(totals["mttr"], 3) if totals["mttr"] is not None else None,
    }


def _rates(rows: QuerySet[Any]) -> dict[str, Any]:
    return _shape(rows.aggregate(**_RATE_AGGREGATES))


def _rates_by(rows: QuerySet[Any], *keys: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The same rates per group, in one grouped query (not one query per group)."""
    grouped = rows.order_by().values(*keys).annotate(**_RATE_AGGREGATES).order_by(*keys)
    return [(tuple(row[k] for k in keys), _shape(row)) for row in grouped]


def action_statistics(*, actor: Actor, window: timedelta, now: datetime | None = None) -> dict[str, Any]:
    """The original design's recovery statistics: success rate, effectiveness and time to recover, overall,
    per action type and per component, over ``window``."""
    now = now or timezone.now()
    recent = RecoveryAction.objects.visible_to(actor).filter(created_at__gte=now - window)
    healing = recent.exclude(action_type=ActionType.ALERT_ESCALATION)
    by_type = {key[0]: rates for key, rates in _rates_by(healing, "action_type")}
    by_component = {key[1]: rates for key, rates in _rates_by(healing, "component_id", "component__name")}
    return {
        "window_seconds": int(window.total_seconds()),
        **_rates(healing),
        "escalations": recent.filter(action_type=ActionType.ALERT_ESCALATION).count(),
        "by_status": dict(recent.order_by().values_list("status").annotate(n=Count("id"))),
        "by_verdict": dict(healing.exclude(verdict="").order_by().values_list("verdict").annotate(n=Count("id"))),
        "by_type": by_type,
        "by_component": by_component,
    }


def breaker_list(*, actor: Actor) -> QuerySet[CircuitBreaker]:
    return CircuitBreaker.objects.visible_to(actor).select_related("component").order_by("component__name")


def healing_state(*, actor: Actor) -> dict[str, Any]:
    """Is automatic healing paused, for everyone or for this actor's components?"""
    owner_id = effective_owner_id(actor)
    switches = {
        ("global" if s.is_global else "mine"): s
        for s in HealingSwitch.objects.filter(Q(is_global=True) | Q(user_id=owner_id)).select_related("changed_by")
    }
    everyone, mine = switches.get("global"), switches.get("mine")
    return {
        "paused_globally": bool(everyone and everyone.paused),
        "paused_for_me": bool(mine and mine.paused),
        "global_reason": everyone.reason if everyone else "",
        "my_reason": mine.reason if mine else "",
    }


def action_timeline(*, actor: Actor, action: RecoveryAction) -> list[Mapping[str, Any]]:
    """What happened to an action, from its audit entries."""
    from core314.models import AuditLogEntry

    entries = AuditLogEntry.objects.visible_to(actor).filter(
        object_type=action._meta.label_lower, object_id=str(action.pk)
    )
    return list(entries.order_by("created_at", "id").values("created_at", "action", "actor_label", "reason", "after"))


def action_series(*, actor: Actor, action: RecoveryAction, points: int = 240) -> dict[str, Any]:
    """The signal's metric (or availability) before and after the action, for the before/after chart."""
    from anomalies.rules import BY_METRIC
    from health.models import SystemHealthEvent

    signal = action.signal
    metric = signal.metric if signal is not None and signal.metric in BY_METRIC else "availability"
    start = (signal.first_seen_at if signal else action.created_at) - timedelta(minutes=10)
    end = (action.verified_at or action.finished_at or timezone.now()) + timedelta(minutes=10)
    rows = list(
        SystemHealthEvent.objects.visible_to(actor)
        .filter(component_id=action.component_id, window_start__gte=start, window_start__lt=end)
        .exclude(**{f"{metric}__isnull": True})
        .order_by("window_start")
        .values_list("window_start", metric)[:5000]
    )
    rows = rows[:: max(1, len(rows) // points)]
    series = [{"name": metric, "values": [value for _, value in rows]}]
    if signal is not None and signal.band_high is not None and metric == signal.metric:
        series.append({"name": "normal band (top)", "values": [signal.band_high] * len(rows)})
    marks = [
        {"at": moment.timestamp(), "label": label}
        for moment, label in ((action.started_at, "action started"), (action.finished_at, "action finished"))
        if moment is not None
    ]
    return {
        "timestamps": [at.timestamp() for at, _ in rows],
        "series": series,
        "marks": marks,
        "metric": metric,
        "start": start.timestamp(),
        "end": end.timestamp(),
    }


def recovery_summary(*, actor: Actor, window: timedelta) -> dict[str, Any]:
    """The Recovery Manager's cards."""
    stats = action_statistics(actor=actor, window=window)
    return {
        "success_rate": stats["success_rate"],
        "helped_rate": stats["helped_rate"],
        "effectiveness": stats["effectiveness"],
        "mttr": stats["mean_time_to_recover_s"],
        "escalations": stats["escalations"],
        "total": stats["total"],
    }


# --- What the healer learned and what waits ------------------------------------------------------------------

HELPED = (Verdict.RESOLVED, Verdict.IMPROVED)
# The track record looks back this far: a repair's record from a year ago says little about today's service.
LOOKBACK = timedelta(days=90)


def tried_actions(*, owner_id: int, since: datetime) -> QuerySet[RecoveryAction]:
    """The owner's repairs that count as tries: run (not dry runs, not escalations), then judged or failed."""
    return (
        RecoveryAction.objects.filter(owner_id=owner_id, created_at__gte=since)
        .exclude(action_type=ActionType.ALERT_ESCALATION)
        .exclude(mode=ActionMode.DRY_RUN)
        .filter(
            Q(verified_at__isnull=False, verdict__in=[*HELPED, Verdict.NO_EFFECT, Verdict.WORSE])
            | Q(status=ActionStatus.FAILED)
        )
    )


def policy_track_record(*, policy: RecoveryPolicy, now: datetime | None = None) -> dict[str, Any]:
    """How each of the policy's repairs has done, per (component type or tag, signal kind), over 90 days:
    tries, how many helped and how; and where a repair is demoted."""
    now = now or timezone.now()
    kinds = [step.get("action_type", "") for step in policy.steps()]
    rows = tried_actions(owner_id=policy.owner_id, since=now - LOOKBACK).filter(action_type__in=kinds)
    if policy.kinds:
        rows = rows.filter(signal__kind__in=policy.kinds)
    table: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    fields = ("action_type", "signal__kind", "component__type", "component__tags", "verdict")
    for action_type, kind, type_, tags, verdict in rows.values_list(*fields)[:50_000]:
        outcome = verdict or "failed"
        for scope in [f"type {type_}", *(f"tag {tag}" for tag in tags or [])]:
            table[(action_type, scope, kind or "")][outcome] += 1
    records = []
    for (action_type, scope, kind), counts in table.items():
        tries = sum(counts.values())
        helped = counts[Verdict.RESOLVED] + counts[Verdict.IMPROVED]
        records.append({
            "action_type": action_type, "scope": scope, "kind": kind, "tries": tries, "helped": helped,
            "rate": round(helped / tries, 3), "resolved": counts[Verdict.RESOLVED],
            "improved": counts[Verdict.IMPROVED], "no_effect": counts[Verdict.NO_EFFECT],
            "worse": counts[Verdict.WORSE], "failed": counts["failed"],
        })  # fmt: skip
    records.sort(key=lambda r: (kinds.index(r["action_type"]), r["scope"], r["kind"]))
    demotions = Demotion.objects.filter(owner_id=policy.owner_id, cleared_at__isnull=True, action_type__in=kinds)
    return {
        "policy": policy.pk,
        "pinned": policy.pinned,
        "steps": kinds,
        "records": records,
        "demotions": [
            {"id": d.pk, "component": d.component.name, "action_type": d.action_type, "reason": d.reason,
             "since": d.created_at.isoformat()}
            for d in demotions.select_related("component").order_by("-created_at")[:100]
        ],
    }  # fmt: skip


def demotion_list(*, actor: Actor) -> QuerySet[Demotion]:
    return Demotion.objects.visible_to(actor).select_related("component", "cleared_by").order_by("-created_at", "-id")


def scale_out_list(*, actor: Actor) -> QuerySet[ScaleOut]:
    return ScaleOut.objects.visible_to(actor).select_related("component").order_by("-started_at", "-id")


def healing_queue(*, actor: Actor) -> QuerySet[HealingDecision]:
    """Decisions waiting for the healing budget, most severe and oldest first."""
    from recovery.services.arbiter import QUEUED, SEVERITY_RANK

    return (
        HealingDecision.objects.visible_to(actor)
        .filter(outcome="deferred", reason__startswith=QUEUED)
        .select_related("component", "signal")
        .annotate(rank=SEVERITY_RANK)
        .order_by("-rank", "created_at")
    )
