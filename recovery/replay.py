"""Replay before you trust (read only): what a policy, or a changed one, would have done about the signals of
the last days, and, where the same repair really ran, the verdict it really got.

The replay walks the owner's signals in the order they opened, one decision per incident, with the rules the
healer applies: the first enabled policy by priority that matches decides (a policy written below another
that matches is "shadowed"); silenced signals are left alone; a step runs only where an actuator can carry
it, else the next; a repair waits for its cooldown on the component, and past the policy's hourly cap it
escalates. It reads today's actuators and policies; it does not replay detection (the signals are what they
were) nor the verdicts of repairs that never ran.

Work is bounded before it starts: at most ``CORE314_REPLAY_MAX_DAYS`` days and ``CORE314_REPLAY_MAX_SIGNALS``
signals (a DomainError says to narrow it).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from anomalies.models import AnomalySignal
from core314.services import DomainError
from recovery.executors import ACTUATORS_FOR
from recovery.models import ActionMode, ActionType, Actuator, RecoveryAction, RecoveryPolicy, Verdict
from recovery.services.decide import policy_matches
from recovery.services.policies import clean_policy

ROWS = 500
# What a replay may change of a policy (the rest is the policy as saved).
REPLAYABLE = (
    "kinds", "metrics", "min_severity", "component_type", "tag", "action_type", "parameters", "mode", "chain",
    "cooldown_s", "max_per_hour", "priority",
)  # fmt: skip
HELPED = (Verdict.RESOLVED, Verdict.IMPROVED)


@dataclass
class Row:
    at: str
    signal: int
    incident: int | None
    component: str
    kind: str
    severity: str
    outcome: str  # act, escalate, cooling_down, capped, silenced, shadowed
    action_type: str
    mode: str
    note: str
    real_action: int | None = None
    real_action_type: str = ""
    real_verdict: str = ""


def _real_actions(owner_id: int, since: datetime) -> dict[tuple[str, int], RecoveryAction]:
    """The first repair that really ran for each incident and each signal (escalations aside)."""
    found: dict[tuple[str, int], RecoveryAction] = {}
    actions = (
        RecoveryAction.objects.filter(owner_id=owner_id, created_at__gte=since)
        .exclude(action_type=ActionType.ALERT_ESCALATION)
        .exclude(mode=ActionMode.DRY_RUN)
        .order_by("created_at", "id")
    )
    for action in actions.only("id", "incident_id", "signal_id", "action_type", "verdict", "created_at"):
        if action.incident_id is not None:
            found.setdefault(("incident", action.incident_id), action)
        if action.signal_id is not None:
            found.setdefault(("signal", action.signal_id), action)
    return found


def replayed(policy: RecoveryPolicy, changes: dict[str, Any]) -> RecoveryPolicy:
    """An unsaved copy of ``policy`` with ``changes``, validated as a save would be."""
    unknown = sorted(set(changes) - set(REPLAYABLE))
    if unknown:
        raise DomainError(f"A replay can change {', '.join(REPLAYABLE)}; not {', '.join(unknown)}.")
    copy = RecoveryPolicy(**{f.attname: getattr(policy, f.attname) for f in RecoveryPolicy._meta.concrete_fields})
    for name, value in changes.items():
        setattr(copy, name, value)
    clean_policy({name: getattr(copy, name) for name in REPLAYABLE})
    for name in ("cooldown_s", "max_per_hour", "priority"):
        value = getattr(copy, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 86_400:
            raise DomainError(f"{name} must be a whole number from 1 to 86400.")
    return copy


def policy_replay(*, policy: RecoveryPolicy, days: int, now: datetime | None = None) -> dict[str, Any]:
    """Replay ``policy`` (saved or not: a changed copy replays the change) over its owner's last ``days``."""
    now = now or timezone.now()
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= settings.CORE314_REPLAY_MAX_DAYS:
        raise DomainError(f"days must be a whole number from 1 to {settings.CORE314_REPLAY_MAX_DAYS}.")
    since = now - timedelta(days=days)
    signals = AnomalySignal.objects.filter(owner_id=policy.owner_id, first_seen_at__gte=since, first_seen_at__lte=now)
    total = signals.count()
    if total > settings.CORE314_REPLAY_MAX_SIGNALS:
        raise DomainError(
            f"{total} signals opened in the last {days} days; a replay reads at most "
            f"{settings.CORE314_REPLAY_MAX_SIGNALS}: choose fewer days."
        )
    others = list(
        RecoveryPolicy.objects.filter(owner_id=policy.owner_id, enabled=True)
        .exclude(pk=policy.pk)
        .order_by("priority", "id")
    )
    ranked = sorted([*others, policy], key=lambda p: (p.priority, p.pk or 0))
    carriers = set(Actuator.objects.filter(owner_id=policy.owner_id, enabled=True).values_list("component_id", "kind"))
    real = _real_actions(policy.owner_id, since)
    rows: list[Row] = []
    seen: set[tuple[str, int]] = set()
    last_run: dict[tuple[int, str], datetime] = {}
    runs: dict[int, list[datetime]] = defaultdict(list)
    for signal in signals.select_related("component").order_by("first_seen_at", "id").iterator(chunk_size=2000):
        key = ("incident", signal.incident_id) if signal.incident_id is not None else ("signal", signal.pk)
        component = signal.component
        if key in seen or not policy_matches(policy, signal, component):
            continue
        seen.add(key)
        at = signal.first_seen_at
        row = Row(
            at=at.isoformat(), signal=signal.pk, incident=signal.incident_id, component=component.name,
            kind=signal.kind, severity=signal.severity, outcome="", action_type="", mode="", note="",
        )  # fmt: skip
        done = real.get(key)
        if done is not None:
            row.real_action, row.real_action_type, row.real_verdict = done.pk, done.action_type, done.verdict
        rows.append(row)
        first = next(p for p in ranked if p is policy or policy_matches(p, signal, component))
        if first is not policy:
            row.outcome, row.note = "shadowed", f"policy {first.name!r} (priority {first.priority}) decides first"
            continue
        if signal.silenced:
            row.outcome, row.note = "silenced", "opened during a silence"
            continue
        step = next(
            (
                s for s in policy.steps()
                if s.get("action_type") == ActionType.ALERT_ESCALATION
                or not ACTUATORS_FOR.get(s.get("action_type", ""))
                or any((component.pk, kind) in carriers for kind in ACTUATORS_FOR[s["action_type"]])
            ),
            None,
        )  # fmt: skip
        if step is None or step["action_type"] == ActionType.ALERT_ESCALATION:
            row.outcome, row.action_type = "escalate", ActionType.ALERT_ESCALATION
            row.note = "no step can act on this component" if step is None else "the policy escalates"
            continue
        kind = step["action_type"]
        row.action_type, row.mode = kind, step.get("mode") or policy.mode
        previous = last_run.get((component.pk, kind))
        if previous is not None and (at - previous).total_seconds() < policy.cooldown_s:
            row.outcome, row.note = "cooling_down", f"{kind} ran {(at - previous).total_seconds():.0f} s before"
            continue
        recent = [t for t in runs[component.pk] if at - t < timedelta(hours=1)]
        if len(recent) >= policy.max_per_hour:
            row.outcome, row.note = "capped", f"{policy.max_per_hour} runs this hour on {component.name}: escalates"
            continue
        runs[component.pk] = [*recent, at]
        last_run[(component.pk, kind)] = at
        row.outcome = "act"
        row.note = f"step {policy.steps().index(step) + 1} of {len(policy.steps())}"
    return _summary(rows, days=days, since=since, signals=total)


def _summary(rows: list[Row], *, days: int, since: datetime, signals: int) -> dict[str, Any]:
    acts = [r for r in rows if r.outcome == "act"]
    same = [r for r in acts if r.real_action_type == r.action_type]
    per_component = Counter(r.component for r in acts)
    per_day = Counter(r.at[:10] for r in acts)
    return {
        "days": days,
        "since": since.isoformat(),
        "signals": signals,
        "matched": len(rows),
        "outcomes": dict(Counter(r.outcome for r in rows)),
        "actions": dict(Counter(f"{r.action_type} ({r.mode})" for r in acts)),
        "per_component": [{"component": name, "actions": n} for name, n in per_component.most_common(50)],
        "per_day": [{"day": day, "actions": n} for day, n in sorted(per_day.items())],
        "real": {
            "same_action_ran": len(same),
            "helped": sum(1 for r in same if r.real_verdict in HELPED),
            "other_action_ran": sum(1 for r in acts if r.real_action_type and r.real_action_type != r.action_type),
            "nothing_ran": sum(1 for r in acts if not r.real_action_type),
        },
        "rows": [asdict(r) for r in rows[:ROWS]],
        "rows_total": len(rows),
    }
