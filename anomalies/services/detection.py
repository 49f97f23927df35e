"""Detection: a component's new health events through its detectors (the decision is ``anomalies.decision``;
here the rows are loaded and saved), the beat's safety-net sweep, and auto-resolve."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from anomalies import decision, rules
from anomalies.detector import DetectorConfig
from anomalies.models import AnomalyKind, AnomalySignal, DetectionSettings, DetectorState, SignalStatus
from anomalies.services.lifecycle import signal_for_status, signal_mark_resolved, signal_open_or_update
from health import thresholds
from health.models import Component, ComponentStatus, SystemHealthEvent

MAX_EVENTS = 5000  # per run; a backlog larger than this is read by the next run
WARM_UP_EVENTS = 1000
FAILING = (ComponentStatus.UNHEALTHY, ComponentStatus.CRITICAL)


def detector_config(component: Component, watched: rules.Watched) -> DetectorConfig:
    """The detector settings of one of the component's metrics, with the operator's overrides and its status
    thresholds (a level past them is never learned as normal)."""
    overrides: DetectionSettings | None = getattr(component, "detection_settings", None)
    values = {name: getattr(overrides, name) for name in decision.OVERRIDABLE} if overrides is not None else None
    bounds = thresholds.thresholds_for(component.type, component.thresholds).get(watched.metric)
    return decision.config_for(watched=watched, overrides=values, bounds=bounds)


def signals_detect(*, component_id: int, now: datetime | None = None) -> list[AnomalySignal]:
    """Feed a component's new health events to its detectors; open, update or resolve its signals.

    One transaction under a per-component advisory lock, so two workers never interleave on one component's
    detector state; safe to run twice (events already seen are skipped).
    """
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"core314.detect:{component_id}"])
        component = Component.objects.select_related("detection_settings").filter(pk=component_id).first()
        if component is None:
            return []
        settings_row = getattr(component, "detection_settings", None)
        if settings_row is not None and not settings_row.enabled:
            return []
        states = {s.metric: s for s in DetectorState.objects.select_for_update().filter(component=component)}
        since = min((s.last_window_start for s in states.values() if s.last_window_start), default=None)
        events_qs = (
            SystemHealthEvent.objects.filter(component=component)
            .exclude(source="selftest")
            .values("window_start", "status", "version", *[w.metric for w in rules.WATCHED])
        )
        if since is not None and len(states) == len(rules.WATCHED):
            events = list(events_qs.filter(window_start__gt=since).order_by("window_start", "id")[:MAX_EVENTS])
        else:
            # A detector seeing this component for the first time learns from its recent history only,
            # not from the oldest events onward: the newest WARM_UP_EVENTS, in time order.
            events = list(events_qs.order_by("-window_start", "-id")[:WARM_UP_EVENTS])[::-1]
        found: list[decision.Deviation] = []
        back_to_normal: list[tuple[str, datetime]] = []
        for watched in rules.WATCHED:
            state_row = states.get(watched.metric) or DetectorState(component=component, metric=watched.metric)
            replay = decision.metric_replay(
                watched=watched,
                config=detector_config(component, watched),
                stored=state_row.state,
                last_window_start=state_row.last_window_start,
                events=events,
            )
            state_row.state = replay.state
            state_row.last_window_start = replay.last_window_start
            state_row.save()
            if replay.deviation is not None:
                found.append(replay.deviation)
            elif replay.normal_at is not None:
                back_to_normal.append((watched.metric, replay.normal_at))
        opened = [signal_open_or_update(component=component, deviation=f, now=now) for f in found]
        touched = [signal for signal in opened if signal is not None]
        _mark_normal(component, back_to_normal)
        touched += _status_signals(component, events[-1] if events else None, now)
        resolved = signals_auto_resolve(component_ids=[component.pk], now=now)
    return touched + resolved


def _status_signals(component: Component, newest: dict[str, Any] | None, now: datetime) -> list[AnomalySignal]:
    """Signals the operator's own bounds open, whatever the detector learned: a component unhealthy or
    critical by its thresholds (its status, damped over windows) with no other signal open, and one that
    stopped reporting. Each goes back to normal with its status."""
    touched = []
    if component.status in FAILING and newest is not None:
        others = AnomalySignal.objects.filter(component=component).exclude(status=SignalStatus.RESOLVED)
        others = others.exclude(kind__in=[AnomalyKind.THRESHOLD_BREACH, AnomalyKind.NO_DATA])
        if not others.filter(normal_since__isnull=True).exists():
            bounds = thresholds.thresholds_for(component.type, component.thresholds)
            _, reasons = thresholds.evaluate(newest, bounds)
            severity = "critical" if component.status == ComponentStatus.CRITICAL else "high"
            explanation = (
                f"{component.name} is {component.status} by its thresholds ({', '.join(reasons) or 'status'}), "
                "however usual that level has become."
            )
            breach = signal_for_status(
                component=component,
                kind=AnomalyKind.THRESHOLD_BREACH,
                severity=severity,
                explanation=explanation,
                now=now,
            )
            touched.append(breach)
    elif component.status not in FAILING:
        _mark_normal(component, [("status", now)], kinds=[AnomalyKind.THRESHOLD_BREACH])
    if component.status == ComponentStatus.STALE:
        touched.append(signal_no_data(component=component, now=now))
    else:
        _mark_normal(component, [("status", now)], kinds=[AnomalyKind.NO_DATA])
    return touched


def signal_no_data(*, component: Component, now: datetime) -> AnomalySignal:
    """A component silent past its stale limit: a signal, healed and escalated like any other."""
    quiet = int((now - component.last_report_at).total_seconds()) if component.last_report_at else None
    explanation = (
        f"{component.name} sent no data for {quiet} s (its limit is {component.stale_after_s} s)."
        if quiet is not None
        else f"{component.name} has never sent data."
    )
    return signal_for_status(
        component=component, kind=AnomalyKind.NO_DATA, severity="high", explanation=explanation, now=now
    )


def _mark_normal(component: Component, metrics: list[tuple[str, datetime]], kinds: list[str] | None = None) -> None:
    for metric, since in metrics:
        rows = AnomalySignal.objects.filter(component=component, metric=metric, normal_since__isnull=True)
        if kinds is not None:
            rows = rows.filter(kind__in=kinds)
        rows.exclude(status=SignalStatus.RESOLVED).update(normal_since=since)


def signals_auto_resolve(
    *, component_ids: Iterable[int] | None = None, now: datetime | None = None
) -> list[AnomalySignal]:
    """Resolve signals whose metric has been back in band for the component's resolve-after time."""
    now = now or timezone.now()
    candidates = (
        AnomalySignal.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("component__detection_settings")
        .filter(normal_since__isnull=False)
        .exclude(status=SignalStatus.RESOLVED)
        .exclude(kind="external_alert")
    )
    if component_ids is not None:
        candidates = candidates.filter(component_id__in=list(component_ids))
    resolved = []
    for signal in candidates:
        overrides = getattr(signal.component, "detection_settings", None)
        wait = (overrides.resolve_after_s if overrides and overrides.resolve_after_s is not None else None) or (
            settings.CORE314_SIGNAL_RESOLVE_AFTER
        )
        # normal_since is set on every candidate (the filter above); the test narrows its type.
        if signal.normal_since is not None and now - signal.normal_since >= timedelta(seconds=wait):
            signal_mark_resolved(signal=signal, actor=None, note=f"back in its normal band for {wait} s", now=now)
            resolved.append(signal)
    return resolved


def detection_sweep(*, now: datetime | None = None, max_components: int = 500) -> int:
    """Beat's safety net: detect for components whose newest event the detector has not seen yet."""
    now = now or timezone.now()
    newest = (
        SystemHealthEvent.objects.filter(window_start__gte=now - timedelta(minutes=10))
        .exclude(source="selftest")
        .order_by()
        .values("component_id")
        .annotate(newest=Max("window_start"))
    )
    seen = dict(
        DetectorState.objects.filter(metric=rules.WATCHED[0].metric).values_list("component_id", "last_window_start")
    )
    count = 0
    for row in newest[:max_components]:
        last = seen.get(row["component_id"])
        if last is None or row["newest"] > last:
            signals_detect(component_id=row["component_id"], now=now)
            count += 1
    with transaction.atomic():
        for component in Component.objects.filter(status=ComponentStatus.STALE).exclude(
            anomaly_signals__kind=AnomalyKind.NO_DATA,
            anomaly_signals__status__in=[SignalStatus.OPEN, SignalStatus.ACKNOWLEDGED],
        )[:max_components]:
            signal_no_data(component=component, now=now)
        signals_auto_resolve(now=now)
    return count
