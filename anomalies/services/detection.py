"""Detection: a component's new health events through its detectors (the decision is ``anomalies.decision``;
here the rows are loaded and saved), the beat's safety-net sweep, and auto-resolve."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from anomalies import decision, rules
from anomalies.detector import DetectorConfig
from anomalies.models import AnomalySignal, DetectionSettings, DetectorState, SignalStatus
from anomalies.services.lifecycle import signal_mark_resolved, signal_open_or_update
from health.models import Component, SystemHealthEvent

MAX_EVENTS = 5000  # per run; a backlog larger than this is read by the next run
WARM_UP_EVENTS = 1000


def detector_config(component: Component, watched: rules.Watched) -> DetectorConfig:
    """The detector settings of one of the component's metrics, with the operator's overrides."""
    overrides: DetectionSettings | None = getattr(component, "detection_settings", None)
    values = {name: getattr(overrides, name) for name in decision.OVERRIDABLE} if overrides is not None else None
    return decision.config_for(watched=watched, overrides=values)


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
        found: list[decision.Incident] = []
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
            if replay.incident is not None:
                found.append(replay.incident)
            elif replay.normal_at is not None:
                back_to_normal.append((watched.metric, replay.normal_at))
        touched = [signal_open_or_update(component=component, incident=f, now=now) for f in found]
        _mark_normal(component, back_to_normal)
        resolved = signals_auto_resolve(component_ids=[component.pk], now=now)
    return touched + resolved


def _mark_normal(component: Component, metrics: list[tuple[str, datetime]]) -> None:
    for metric, since in metrics:
        AnomalySignal.objects.filter(component=component, metric=metric, normal_since__isnull=True).exclude(
            status=SignalStatus.RESOLVED
        ).update(normal_since=since)


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
        signals_auto_resolve(now=now)
    return count
