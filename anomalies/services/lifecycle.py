"""A signal's life: opened or updated from a detector's incident, resolved; the silences and causes it is
opened with. Shared by detection, operator actions and external alerts."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from anomalies import rules
from anomalies.decision import Incident
from anomalies.models import AnomalySignal, SignalStatus, Silence
from anomalies.signals import anomaly_raised
from core314.changes import record_change
from core314.live import publish_on_commit
from core314.tenancy import Actor, acting_user
from health.models import Component


def silence_find_active(*, component: Component, kind: str, at: datetime) -> Silence | None:
    """The silence covering this component and kind at ``at``, if any (its owner's, for the component or all)."""
    return (
        Silence.objects.filter(owner_id=component.owner_id, starts_at__lte=at, ends_at__gt=at)
        .filter(Q(component=component) | Q(component__isnull=True))
        .filter(Q(kind=kind) | Q(kind=""))
        .first()
    )


def signal_find_cause(*, component: Component) -> AnomalySignal | None:
    """An open signal on something this component depends on: then this signal is its symptom."""
    return (
        AnomalySignal.objects.filter(component__in=component.depends_on.all(), cause__isnull=True)
        .exclude(status=SignalStatus.RESOLVED)
        .order_by("first_seen_at")
        .first()
    )


def signal_open_or_update(*, component: Component, incident: Incident, now: datetime) -> AnomalySignal:
    """Open a signal for a detector's incident, or update the one already open for its kind and metric.

    Opening and a rise in severity are audited and announced (healing decides); every update is pushed live.
    """
    watched = incident.watched
    severity = incident.severity
    explanation = incident.explanation
    signal = (
        AnomalySignal.objects.select_for_update()
        .filter(component=component, kind=incident.kind, metric=watched.metric)
        .exclude(status=SignalStatus.RESOLVED)
        .first()
    )
    fields = {
        "observed_value": incident.value,
        "expected_value": incident.expected,
        "band_low": incident.low,
        "band_high": incident.high,
        "deviation": round(incident.z, 3),
        "last_seen_at": incident.window_start,
        "window_start": incident.window_start,
        "normal_since": None,
        "explanation": explanation,
    }
    if signal is None:
        silence = silence_find_active(component=component, kind=incident.kind, at=now)
        signal = AnomalySignal.objects.create(
            owner_id=component.owner_id,
            component=component,
            kind=incident.kind,
            metric=watched.metric,
            severity=severity,
            confidence=incident.confidence,
            peak_value=incident.value,
            occurrences=1,
            first_seen_at=incident.window_start,
            recommended_actions=incident.recommended_actions,
            silenced=silence is not None,
            cause=signal_find_cause(component=component),
            **fields,
        )
        record_change(
            actor=None,
            system_label="detector",
            action="anomaly.open",
            target=signal,
            after={"kind": incident.kind, "metric": watched.metric, "severity": severity, "silenced": signal.silenced},
            reason=explanation,
            event="anomaly.opened",
            data={"severity": severity, "kind": incident.kind},
            signal=anomaly_raised,
            signal_kwargs={"signal_id": signal.pk},
        )
        _enqueue_root_cause(signal.pk)
        return signal
    worse = rules.SEVERITY_ORDER.index(severity) > rules.SEVERITY_ORDER.index(signal.severity)
    peak = signal.peak_value or incident.value
    rises = incident.value > peak if watched.direction != "down" else incident.value < peak
    for name, value in fields.items():
        setattr(signal, name, value)
    signal.occurrences += 1
    signal.confidence = max(signal.confidence, incident.confidence)
    if rises:
        signal.peak_value = incident.value
    if worse:
        signal.severity = severity
        record_change(
            actor=None,
            system_label="detector",
            action="anomaly.escalate",
            target=signal,
            after={"severity": severity},
            reason=explanation,
            signal=anomaly_raised,
            signal_kwargs={"signal_id": signal.pk},
        )
    signal.save()
    publish_on_commit(row=signal, event="anomaly.updated", data={"severity": signal.severity})
    return signal


def signal_mark_resolved(*, signal: AnomalySignal, actor: Actor, note: str, now: datetime) -> None:
    """Resolve a signal (the callers have checked that it may be): audited, pushed live."""
    before = signal.status
    signal.status = SignalStatus.RESOLVED
    signal.resolved_at = now
    signal.resolved_by = acting_user(actor)
    signal.resolution_note = note
    signal.save()
    record_change(
        actor=actor,
        system_label="detector",
        action="anomaly.resolve",
        target=signal,
        before={"status": before},
        after={"status": SignalStatus.RESOLVED},
        reason=note,
        event="anomaly.resolved",
    )


def _enqueue_root_cause(signal_id: int) -> None:
    from anomalies.tasks import root_cause

    transaction.on_commit(lambda: root_cause.delay(signal_id))
