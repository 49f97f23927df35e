"""Scaling back in: replicas the healer added are removed again, one at a time, once the load that made it
scale out has stayed in its band for a cool-down, never below the count before nor the configured minimum.

Hysteresis, so it does not flap: every window of the cool-down must be in band, and CPU must stay in band
with one replica fewer (today's value * n / (n - 1)); each step waits a full cool-down after the last; a
scale-out that follows a scale-in within the hour doubles the cool-down (up to an hour). A person setting the
replica count ends the bookkeeping: their count stands.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from anomalies.models import Incident, SignalStatus
from anomalies.rules import BY_METRIC, RESOURCE_NEAR_LIMIT
from core314.changes import record_change
from health.models import Component, SystemHealthEvent
from recovery.executors import ParameterError
from recovery.models import ActionMode, ActionType, RecoveryAction, ScaleOut
from recovery.services.actions import action_create, actuator_for
from recovery.services.arbiter import budget_full, budget_lock
from recovery.services.decide import healing_paused

# A learned band that hugs an idle service's 2 % CPU would never let it scale in: resources count as back in
# band below this share of the near-limit line whatever was learned.
RESOURCE_FLOOR_SHARE = 0.5
SPREADS = {"cpu_percent"}  # load that spreads over replicas: one fewer raises it by n / (n - 1)
MAX_COOLDOWN = 3600


def _replicas(details: dict[str, Any], key: str) -> int | None:
    value = (details.get(key) or {}).get("replicas")
    return value if isinstance(value, int) else None


def scale_record(action: RecoveryAction, details: dict[str, Any], now: datetime) -> None:
    """After a scale action succeeded (inside the caller's transaction): the healer's scale-up opens or extends
    a scale-out; its scale-in steps count down; a person's scaling ends it."""
    if action.action_type not in (ActionType.SCALE_UP, ActionType.SCALE_DOWN):
        return
    before, after = _replicas(details, "before"), _replicas(details, "after")
    open_ = ScaleOut.objects.select_for_update().filter(component_id=action.component_id, ended_at__isnull=True)
    current = open_.first()
    if action.requested_by_id is not None:
        if current is not None:
            _end(current, f"a person scaled it by hand (action #{action.pk}): their count stands", now)
        return
    if action.action_type == ActionType.SCALE_UP:
        added = (after - before) if before is not None and after is not None else action.parameters.get("by", 1)
        if current is None:
            current = _open(action, before, now)
        current.steps += max(added, 1)
        current.replicas, current.last_step_at, current.waiting = after, now, ""
        current.save()
        return
    if current is None:
        return
    current.steps = max(0, current.steps - 1)
    current.replicas, current.last_step_at = after, now
    current.save()
    floor = max(current.from_replicas or 1, _minimum(action.component))
    if current.steps == 0 or (after is not None and after <= floor):
        _end(current, f"back to {after if after is not None else 'its'} replica(s) (action #{action.pk})", now)


def _open(action: RecoveryAction, before: int | None, now: datetime) -> ScaleOut:
    signal = action.signal
    metric = signal.metric if signal is not None and signal.metric in BY_METRIC else "cpu_percent"
    cooldown = settings.CORE314_SCALE_IN_COOLDOWN
    last = ScaleOut.objects.filter(component_id=action.component_id, ended_at__isnull=False).order_by("-ended_at")
    flapped = last.filter(ended_at__gte=now - timedelta(hours=1), end_reason__startswith="back to").first()
    if flapped is not None:
        cooldown = min(flapped.cooldown_s * 2, MAX_COOLDOWN)  # it scaled in too soon last time
    scale_out = ScaleOut(
        owner_id=action.owner_id,
        component_id=action.component_id,
        action=action,
        signal=signal,
        metric=metric,
        band_high=signal.band_high if signal is not None and signal.metric == metric else None,
        from_replicas=before,
        cooldown_s=cooldown,
        started_at=now,
        last_step_at=now,
    )
    scale_out.save()
    record_change(
        actor=None, system_label="healer", action="scaleout.open", target=scale_out,
        after={"from": before, "metric": metric, "cooldown_s": cooldown},
        reason=f"scaled out; back in once {metric} stays in its band for {cooldown} s",
    )  # fmt: skip
    return scale_out


def _end(scale_out: ScaleOut, why: str, now: datetime) -> None:
    scale_out.ended_at, scale_out.end_reason, scale_out.waiting = now, why[:300], ""
    scale_out.save()
    record_change(
        actor=None, system_label="healer", action="scaleout.end", target=scale_out,
        after={"replicas": scale_out.replicas}, reason=why, event="recovery.scaleout",
    )  # fmt: skip


def scale_out_end(*, component: Component, why: str) -> None:
    """A person set the component's processes (started, stopped, redeployed): the healer's scale-out is over."""
    for scale_out in ScaleOut.objects.select_for_update().filter(component=component, ended_at__isnull=True):
        _end(scale_out, why, timezone.now())


def _minimum(component: Component) -> int:
    actuator = actuator_for(component, ActionType.SCALE_DOWN)
    return int((actuator.config if actuator else {}).get("min_replicas", 1))


def _line(scale_out: ScaleOut) -> float | None:
    """The top of the load's normal band, as scaling in reads it."""
    line = scale_out.band_high
    if BY_METRIC.get(scale_out.metric) is not None and BY_METRIC[scale_out.metric].limit is not None:
        floor = RESOURCE_NEAR_LIMIT * RESOURCE_FLOOR_SHARE
        line = max(line, floor) if line is not None else floor
    return line


def _why_not_yet(scale_out: ScaleOut, component: Component, now: datetime) -> str:
    """Why it cannot step in now ("" when it can)."""
    paused = healing_paused(component.owner_id)
    if paused:
        return paused
    since = (now - scale_out.last_step_at).total_seconds()
    if since < scale_out.cooldown_s:
        return f"cooling down: {since:.0f} of {scale_out.cooldown_s} s since the last step"
    incident = Incident.objects.filter(component=component).exclude(status=SignalStatus.RESOLVED).first()
    if incident is not None:
        return f"incident #{incident.pk} on it is still open"
    busy = RecoveryAction.objects.filter(component=component, in_flight=True).first()
    if busy is not None:
        return f"action #{busy.pk} is in flight"
    line = _line(scale_out)
    if line is None:
        return f"no normal band known for {scale_out.metric}"
    values = list(
        SystemHealthEvent.objects.filter(
            component=component, window_start__gte=now - timedelta(seconds=scale_out.cooldown_s)
        )
        .exclude(**{f"{scale_out.metric}__isnull": True})
        .order_by("window_start")
        .values_list(scale_out.metric, flat=True)
    )
    if len(values) < 2:
        return f"too few measurements of {scale_out.metric} in the last {scale_out.cooldown_s} s"
    high = max(values)
    if high > line:
        return f"{scale_out.metric} reached {high:g} in the cool-down (its band ends at {line:g})"
    count = scale_out.replicas or 0
    if scale_out.metric in SPREADS and count > 1 and values[-1] * count / (count - 1) > line:
        return (
            f"{scale_out.metric} would be {values[-1] * count / (count - 1):g} with one replica fewer (over {line:g})"
        )
    return ""


def scale_in_sweep(*, now: datetime | None = None, limit: int = 200) -> int:
    """For each open scale-out whose load has stayed in band: one step in (a scale-down by one, automatic and
    audited like any action). Run by the beat cycle; returns the steps started."""
    now = now or timezone.now()
    started = 0
    for pk in (
        ScaleOut.objects.filter(ended_at__isnull=True).order_by("last_step_at").values_list("pk", flat=True)[:limit]
    ):
        with transaction.atomic():
            scale_out = (
                ScaleOut.objects.select_for_update(of=("self",))
                .select_related("action__policy")
                .filter(pk=pk, ended_at__isnull=True)
                .first()
            )
            if scale_out is None:
                continue
            component = Component.objects.select_for_update().get(pk=scale_out.component_id)
            started += _step_in(scale_out, component, now)
    return started


def _step_in(scale_out: ScaleOut, component: Component, now: datetime) -> int:
    floor = max(scale_out.from_replicas or 1, _minimum(component))
    if scale_out.steps == 0 or (scale_out.replicas is not None and scale_out.replicas <= floor):
        _end(scale_out, f"already at {scale_out.replicas} replica(s)", now)
        return 0
    if actuator_for(component, ActionType.SCALE_DOWN) is None:
        _end(scale_out, "nothing can scale it in any more (its actuator was removed or disabled)", now)
        return 0
    waiting = _why_not_yet(scale_out, component, now)
    if not waiting:
        budget_lock()
        waiting = budget_full(owner_id=component.owner_id, now=now)
    if waiting:
        if waiting != scale_out.waiting:
            scale_out.waiting = waiting[:300]
            scale_out.save(update_fields=["waiting"])
        return 0
    to = (scale_out.replicas - 1) if scale_out.replicas is not None else None
    why = (
        f"scaling back in: {scale_out.metric} stayed in its band for {scale_out.cooldown_s} s; "
        f"{scale_out.replicas} → {to} replica(s), toward the {floor} it had before"
        if to is not None
        else f"scaling back in: {scale_out.metric} stayed in its band for {scale_out.cooldown_s} s"
    )
    try:
        out = scale_out.action
        action_create(
            component=component, signal=None, policy=None, step=0, action_type=ActionType.SCALE_DOWN,
            parameters={"by": 1}, mode=ActionMode.AUTOMATIC, reason=why, now=now,
            # Judged on the window its scale-out was judged on: the policy knows how fast this service settles.
            verify_after_s=out.policy.verify_after_s if out is not None and out.policy is not None else None,
        )  # fmt: skip
    except (ParameterError, OSError) as exc:
        _end(scale_out, f"cannot scale in: {exc}", now)
        return 0
    scale_out.waiting = ""
    scale_out.last_step_at = now
    scale_out.save(update_fields=["waiting", "last_step_at"])
    return 1
