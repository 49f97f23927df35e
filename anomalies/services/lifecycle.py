"""A signal's life: opened or updated from a detector's incident, resolved; the silences and causes it is
opened with. Shared by detection, operator actions and external alerts."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from anomalies import rules
from anomalies.decision import Deviation
from anomalies.models import AnomalySignal, SignalStatus
from anomalies.services.incidents import incident_attach, incident_refresh, incident_signal_updated
from anomalies.services.silences import silence_find_active
from anomalies.signals import anomaly_raised, deviation_opening
from core314.changes import record_change, send_on_commit
from core314.live import publish_on_commit
from core314.tenancy import Actor, acting_user
from health.models import Component

logger = logging.getLogger(__name__)


def signal_find_cause(*, component: Component) -> AnomalySignal | None:
    """An open signal on something this component depends on: then this signal is its symptom."""
    return (
        AnomalySignal.objects.filter(component__in=component.depends_on.all(), cause__isnull=True)
        .exclude(status=SignalStatus.RESOLVED)
        .order_by("first_seen_at")
        .first()
    )


def _aftermath_of(component: Component, deviation: Deviation, now: datetime) -> int | None:
    """The id of an action of the platform's own whose expected aftermath this deviation is, if one says so."""
    answers = deviation_opening.send_robust(
        sender=AnomalySignal,
        component_id=component.pk,
        kind=deviation.kind,
        metric=deviation.watched.metric,
        value=deviation.value,
        expected=deviation.expected,
        at=deviation.window_start,
    )
    for receiver, answer in answers:
        if isinstance(answer, Exception):
            logger.error("receiver %r of deviation_opening failed", receiver, exc_info=answer)
        elif answer:
            return int(answer)
    return None


def signal_open_or_update(*, component: Component, deviation: Deviation, now: datetime) -> AnomalySignal | None:
    """Open a signal for a detector's deviation, or update the one already open for its kind and metric.

    A new signal joins its fault's incident; opening one, a new episode and a rise in severity are audited
    and announced (healing decides); every update is pushed live. A deviation the platform's own action just
    caused (a restart's catch-up traffic, a cold cache) opens nothing: it is recorded on that action (None).
    """
    watched = deviation.watched
    severity = deviation.severity
    explanation = deviation.explanation
    signal = (
        AnomalySignal.objects.select_for_update()
        .filter(component=component, kind=deviation.kind, metric=watched.metric)
        .exclude(status=SignalStatus.RESOLVED)
        .first()
    )
    fields = {
        "observed_value": deviation.value,
        "expected_value": deviation.expected,
        "band_low": deviation.low,
        "band_high": deviation.high,
        "deviation": round(deviation.z, 3),
        "last_seen_at": deviation.window_start,
        "window_start": deviation.window_start,
        "normal_since": None,
        "explanation": explanation,
    }
    if signal is None:
        if _aftermath_of(component, deviation, now) is not None:
            return None
        silence = silence_find_active(component=component, kind=deviation.kind, at=now)
        signal = AnomalySignal.objects.create(
            owner_id=component.owner_id,
            component=component,
            kind=deviation.kind,
            metric=watched.metric,
            severity=severity,
            confidence=deviation.confidence,
            peak_value=deviation.value,
            occurrences=1,
            first_seen_at=deviation.window_start,
            recommended_actions=deviation.recommended_actions,
            silenced=silence is not None,
            cause=signal_find_cause(component=component),
            **fields,
        )
        signal_opened(signal=signal, reason=explanation, now=now)
        return signal
    came_back = signal.normal_since is not None
    worse = rules.SEVERITY_ORDER.index(severity) > rules.SEVERITY_ORDER.index(signal.severity)
    peak = signal.peak_value or deviation.value
    rises = deviation.value > peak if watched.direction != "down" else deviation.value < peak
    for name, value in fields.items():
        setattr(signal, name, value)
    signal.occurrences += 1
    signal.confidence = max(signal.confidence, deviation.confidence)
    if rises:
        signal.peak_value = deviation.value
    if worse:
        signal.severity = severity
        record_change(
            actor=None,
            system_label="detector",
            action="anomaly.escalate",
            target=signal,
            after={"severity": severity},
            reason=explanation,
        )
    signal.save()
    incident_signal_updated(signal=signal, came_back=came_back, rose=worse, now=now)
    publish_on_commit(row=signal, event="anomaly.updated", data={"severity": signal.severity})
    return signal


def signal_for_status(
    *, component: Component, kind: str, severity: str, explanation: str, now: datetime
) -> AnomalySignal:
    """Open or update the signal of a status the operator's own bounds define (a threshold breach, no data),
    whatever the detector learned: healed and escalated like any other."""
    signal = (
        AnomalySignal.objects.select_for_update()
        .filter(component=component, kind=kind, metric="status")
        .exclude(status=SignalStatus.RESOLVED)
        .first()
    )
    if signal is None:
        silence = silence_find_active(component=component, kind=kind, at=now)
        signal = AnomalySignal.objects.create(
            owner_id=component.owner_id, component=component, kind=kind, metric="status", severity=severity,
            confidence=0.99, first_seen_at=now, last_seen_at=now, window_start=now, explanation=explanation,
            recommended_actions=rules.recommended_actions(kind, "status"), silenced=silence is not None,
            cause=signal_find_cause(component=component),
        )  # fmt: skip
        signal_opened(signal=signal, reason=explanation, now=now)
        return signal
    came_back = signal.normal_since is not None
    worse = rules.SEVERITY_ORDER.index(severity) > rules.SEVERITY_ORDER.index(signal.severity)
    signal.last_seen_at, signal.window_start, signal.normal_since = now, now, None
    signal.explanation = explanation
    signal.occurrences += 1
    if worse:
        signal.severity = severity
    signal.save()
    incident_signal_updated(signal=signal, came_back=came_back, rose=worse, now=now)
    publish_on_commit(row=signal, event="anomaly.updated", data={"severity": signal.severity})
    return signal


def signal_opened(*, signal: AnomalySignal, reason: str, now: datetime, actor: Actor = None) -> None:
    """A signal row was just created: audit it, join its incident, and have healing decide when it should."""
    _, decide = incident_attach(signal=signal, now=now)
    record_change(
        actor=actor,
        system_label="detector",
        action="anomaly.open",
        target=signal,
        after={"kind": signal.kind, "metric": signal.metric, "severity": signal.severity, "silenced": signal.silenced,
               "incident": signal.incident_id},
        reason=reason,
        event="anomaly.opened",
        data={"severity": signal.severity, "kind": signal.kind, "incident": signal.incident_id},
    )  # fmt: skip
    if decide:
        send_on_commit(anomaly_raised, sender=AnomalySignal, signal_id=signal.pk)
    _enqueue_root_cause(signal.pk)


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
    if signal.incident is not None:
        incident_refresh(incident=signal.incident, actor=actor, now=now)


def _enqueue_root_cause(signal_id: int) -> None:
    from anomalies.tasks import root_cause

    transaction.on_commit(lambda: root_cause.delay(signal_id))
