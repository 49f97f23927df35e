"""What the platform's own actions cause while they are verified: recorded on the action, not paged.

A restart leaves a short gap and then a burst of catch-up traffic; a scaled or rolled-back service starts
with a cold cache. Those deviations are the action's expected aftermath: while the action runs or is being
verified, a new signal on its component is recorded in ``RecoveryAction.aftermath`` instead of opening (the
deviation the action targets is its own signal, judged by the verification). A deviation that outlasts the
window opens a signal at the next detection, as any other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core314.changes import record_change
from recovery.models import ActionStatus, ActionType, RecoveryAction

# Actions that disturb a service on purpose: restarting, scaling or redeploying it.
DISTURBING = [
    ActionType.RESTART_FUNCTION,
    ActionType.SCALE_UP,
    ActionType.SCALE_DOWN,
    ActionType.ROLLBACK_DEPLOYMENT,
]


@transaction.atomic
def action_aftermath_record(
    *, component_id: int, kind: str, metric: str, value: float, expected: float, at: datetime
) -> int | None:
    """If an action of the platform's own is running or being verified on the component, record this
    deviation on it and answer its id (no signal opens); else None."""
    now = timezone.now()
    action = (
        RecoveryAction.objects.select_for_update()
        .filter(component_id=component_id, action_type__in=DISTURBING, in_flight=True)
        .filter(Q(status=ActionStatus.RUNNING) | Q(status=ActionStatus.SUCCEEDED, verify_at__gt=now))
        .order_by("-created_at")
        .first()
    )
    if action is None:
        return None
    entries: list[dict[str, Any]] = list(action.aftermath or [])
    entry = next((e for e in entries if e["kind"] == kind and e["metric"] == metric), None)
    first = entry is None
    if entry is None:
        entry = {"kind": kind, "metric": metric, "first_at": at.isoformat(), "count": 0, "peak": value}
        entries.append(entry)
    entry["count"] += 1
    entry["last_at"] = at.isoformat()
    entry["expected"] = round(expected, 6)
    if abs(value - expected) > abs(entry["peak"] - expected):
        entry["peak"] = value
    action.aftermath = entries
    action.save(update_fields=["aftermath"])
    if first:
        record_change(
            actor=None,
            system_label="healer",
            action="recovery.aftermath",
            target=action,
            after={"kind": kind, "metric": metric, "value": value, "expected": expected},
            reason="expected after the platform's own action: recorded here, nobody paged",
            event="recovery.updated",
            data={"aftermath": len(entries)},
        )
    return action.pk
