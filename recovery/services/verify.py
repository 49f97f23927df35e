"""Verifying: once an action's window has passed, a verdict from the health events that followed; a resolved
signal is closed, and an action that did not help moves the policy's chain on (or escalates)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from anomalies.models import AnomalySignal, SignalStatus
from anomalies.rules import BY_METRIC, RESOURCE_NEAR_LIMIT
from anomalies.services import incident_new_episode, signal_resolve
from core314.changes import record_change
from core314.services import ConflictError
from health.models import Component, HealthStatus, SystemHealthEvent
from recovery.effectiveness import distance, judge
from recovery.learning import next_position
from recovery.models import ActionStatus, RecoveryAction, Verdict
from recovery.services.actions import backoff_for, metrics_snapshot
from recovery.services.decide import step_action
from recovery.services.escalation import escalate
from recovery.services.learning import demotion_review


def action_verify(*, action_id: int, now: datetime | None = None) -> RecoveryAction | None:
    """After the verification window: a verdict from the events that followed; continue the chain if it did not help."""
    now = now or timezone.now()
    with transaction.atomic():
        action = (
            RecoveryAction.objects.select_for_update(of=("self",))
            .select_related("signal", "policy")
            .filter(pk=action_id)
            .first()
        )
        if action is None or action.verified_at or action.status != ActionStatus.SUCCEEDED or not action.in_flight:
            return action
        component = Component.objects.select_for_update().get(pk=action.component_id)
        signal = action.signal
        metric = signal.metric if signal is not None and signal.metric in BY_METRIC else ""
        events = list(
            SystemHealthEvent.objects.filter(component=component, window_start__gte=action.finished_at)
            .exclude(window_start__gt=now)
            .order_by("window_start")
        )
        if metric and signal is not None:  # a metric is only read from a signal
            values = [getattr(e, metric) for e in events if getattr(e, metric) is not None]
            low, high = _band(signal, metric)
            judgement = judge(
                before=(action.before_metrics or {}).get("signal_value", signal.observed_value),
                after=values,
                direction=BY_METRIC[metric].direction,
                low=low,
                high=high,
                expected=signal.expected_value,
            )
            verdict, score, note = Verdict(judgement.verdict), judgement.score, judgement.note
            recovered_at = _first_normal(events, metric, signal) if verdict == Verdict.RESOLVED else None
        else:
            # No metric to compare (an external alert, a manual action): the component's status decides.
            healthy = [e for e in events if e.status == HealthStatus.HEALTHY]
            resolved = bool(events) and events[-1].status == HealthStatus.HEALTHY
            verdict = Verdict.RESOLVED if resolved else (Verdict.IMPROVED if healthy else Verdict.NO_EFFECT)
            score, note = (1.0 if resolved else 0.5 if healthy else 0.0), f"component {component.status}"
            recovered_at = healthy[0].window_end if resolved else None
        still_open = signal is not None and signal.status != SignalStatus.RESOLVED and signal.normal_since is None
        if verdict == Verdict.IMPROVED and still_open and action.checks == 0:
            # Partly better (a scaled-out service whose burning replica still burns, a cache still warming):
            # one more window before judging, the component still held by this action.
            action.checks = 1
            action.verdict = verdict
            action.effectiveness = score
            action.verify_at = now + verify_window(action)
            action.save(update_fields=["checks", "verdict", "effectiveness", "verify_at"])
            record_change(
                actor=None,
                system_label="healer",
                action="recovery.verdict",
                target=action,
                after={"verdict": verdict, "score": score, "look_again_at": action.verify_at.isoformat()},
                reason=f"{note}; looking again before moving on",
            )
            return action
        action.checks += 1
        action.verdict = verdict
        action.effectiveness = score
        action.verified_at = now
        action.in_flight = False
        action.after_metrics = {**metrics_snapshot(component, signal), "note": note, "windows_after": len(events)}
        if recovered_at is not None and signal is not None:
            action.time_to_recover_s = round(max(0.0, (recovered_at - signal.first_seen_at).total_seconds()), 3)
        action.save()
        record_change(
            actor=None,
            system_label="healer",
            action="recovery.verdict",
            target=action,
            after={"verdict": verdict, "score": score, "time_to_recover_s": action.time_to_recover_s},
            reason=note,
            event="recovery.verified",
            data={"verdict": verdict},
        )
        demotion_review(action, now)
        if verdict == Verdict.RESOLVED:
            _resolve_signal(signal, action, now)
        elif verdict in {Verdict.NO_EFFECT, Verdict.WORSE} or (verdict == Verdict.IMPROVED and still_open):
            if verdict != Verdict.IMPROVED:  # an action that helped a little is not one to wait longer for next time
                backoff = backoff_for(component, action.action_type, now)
                backoff.attempts += 1
                backoff.save()
            if signal is not None and signal.status != SignalStatus.RESOLVED and action.policy is not None:
                outcome = "helped only partly" if verdict == Verdict.IMPROVED else f"had {verdict.replace('_', ' ')}"
                why = f"action #{action.pk} ({action.get_action_type_display()}) {outcome}"
                order = action.chain_order or list(range(len(action.policy.steps())))
                step_action(component, signal, action.policy, next_position(order, action.step), now, why, order)
            elif signal is not None and signal.status != SignalStatus.RESOLVED:
                escalate(component, signal, f"action #{action.pk} had {verdict.replace('_', ' ')}", now)
        return action


def verify_window(action: RecoveryAction) -> timedelta:
    """How long after an action its result is judged: its own window, else its policy's, else the default."""
    wait = action.verify_after_s or (action.policy.verify_after_s if action.policy else settings.CORE314_VERIFY_AFTER)
    return timedelta(seconds=wait)


def _band(signal: AnomalySignal, metric: str) -> tuple[float | None, float | None]:
    """The normal band to judge against. A resource flagged near its limit is normal again only below the
    near-limit line, whatever band the detector learned while it was high."""
    low, high = signal.band_low, signal.band_high
    if BY_METRIC[metric].limit is not None:
        high = min(high, RESOURCE_NEAR_LIMIT) if high is not None else RESOURCE_NEAR_LIMIT
    return low, high


def _first_normal(events: list[SystemHealthEvent], metric: str, signal: AnomalySignal) -> datetime | None:
    low, high = _band(signal, metric)
    for event in events:
        value = getattr(event, metric)
        if value is not None and not distance(
            value, direction=BY_METRIC[metric].direction, low=low, high=high, expected=signal.expected_value
        ):
            return event.window_end
    return None


def _resolve_signal(signal: AnomalySignal | None, action: RecoveryAction, now: datetime) -> None:
    """The action resolved what it was judged on: that signal is resolved, and so are the incident's members
    already back in band. A member still deviating is a new episode: healing decides again for it."""
    note = f"healed by recovery action #{action.pk}, verified"
    if signal is not None and signal.status != SignalStatus.RESOLVED:
        with contextlib.suppress(ConflictError):
            signal_resolve(actor=None, signal=signal, note=note)
    if action.incident_id is None:
        return
    members = AnomalySignal.objects.filter(incident_id=action.incident_id).exclude(status=SignalStatus.RESOLVED)
    for member in members.filter(normal_since__isnull=False):
        with contextlib.suppress(ConflictError):
            signal_resolve(actor=None, signal=member, note=note)
    still = members.filter(normal_since__isnull=True).order_by("first_seen_at").first()
    if still is not None and still.incident is not None:
        why = f"action #{action.pk} resolved {signal or 'its target'}, but {still} still deviates"
        incident_new_episode(incident=still.incident, signal=still, why=why, now=now)
