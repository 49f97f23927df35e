"""What people say about a fault: acknowledge or resolve its incident, mark a page real or a false alarm (the
detector's report card), and accept a level as the new normal."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from anomalies import rules
from anomalies.models import AnomalySignal, DetectorState, Feedback, Incident, SignalStatus
from anomalies.services.lifecycle import signal_mark_resolved
from core314.changes import record_change
from core314.services import ConflictError, DomainError
from core314.tenancy import Actor, acting_user
from health import thresholds


@transaction.atomic
def incident_acknowledge(*, actor: Actor, incident: Incident, note: str = "") -> Incident:
    """Someone is on it: the incident and its open signals are acknowledged (escalations may stop on it)."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if incident.status != SignalStatus.OPEN:
        raise ConflictError(f"Only an open incident can be acknowledged; this one is {incident.status}.")
    now = timezone.now()
    incident.status = SignalStatus.ACKNOWLEDGED
    incident.acknowledged_by = acting_user(actor)
    incident.acknowledged_at = now
    incident.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "updated_at"])
    incident.signals.filter(status=SignalStatus.OPEN).update(
        status=SignalStatus.ACKNOWLEDGED, acknowledged_by=acting_user(actor), acknowledged_at=now
    )
    record_change(
        actor=actor, action="incident.acknowledge", target=incident, before={"status": SignalStatus.OPEN},
        after={"status": SignalStatus.ACKNOWLEDGED}, reason=note, event="incident.acknowledged",
    )  # fmt: skip
    return incident


@transaction.atomic
def incident_resolve(*, actor: Actor, incident: Incident, note: str) -> Incident:
    """A person closes the fault: every open signal of it is resolved with the note."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if incident.status == SignalStatus.RESOLVED:
        raise ConflictError("This incident is already resolved.")
    if not note.strip():
        raise DomainError("Say why it is resolved (a note is required).")
    now = timezone.now()
    for signal in incident.signals.select_for_update().exclude(status=SignalStatus.RESOLVED):
        signal_mark_resolved(signal=signal, actor=actor, note=note.strip(), now=now)
    incident.refresh_from_db()
    if incident.status != SignalStatus.RESOLVED:  # an incident with no member left (cannot happen, but closes)
        incident.status, incident.resolved_at = SignalStatus.RESOLVED, now
    incident.resolved_by = acting_user(actor)
    incident.resolution_note = note.strip()
    incident.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note", "updated_at"])
    return incident


def _feedback(verdict: str) -> str:
    if verdict not in Feedback.values:
        raise DomainError(f"verdict must be one of {', '.join(Feedback.values)}.")
    return verdict


@transaction.atomic
def incident_feedback_set(*, actor: Actor, incident: Incident, verdict: str, note: str = "") -> Incident:
    """Was this page worth it? Real, or a false alarm: for the incident and each of its signals."""
    verdict = _feedback(verdict)
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    before = incident.feedback
    now, who = timezone.now(), acting_user(actor)
    incident.feedback, incident.feedback_by, incident.feedback_at = verdict, who, now
    incident.save(update_fields=["feedback", "feedback_by", "feedback_at", "updated_at"])
    incident.signals.update(feedback=verdict, feedback_by=who, feedback_at=now)
    record_change(
        actor=actor, action="incident.feedback", target=incident, before={"feedback": before},
        after={"feedback": verdict}, reason=note, event="incident.updated",
    )  # fmt: skip
    return incident


@transaction.atomic
def signal_feedback_set(*, actor: Actor, signal: AnomalySignal, verdict: str, note: str = "") -> AnomalySignal:
    """Mark one signal real or a false alarm; its incident (the page) takes the latest word given."""
    verdict = _feedback(verdict)
    signal = AnomalySignal.objects.select_for_update().get(pk=signal.pk)
    before = signal.feedback
    now, who = timezone.now(), acting_user(actor)
    signal.feedback, signal.feedback_by, signal.feedback_at = verdict, who, now
    signal.save(update_fields=["feedback", "feedback_by", "feedback_at", "updated_at"])
    if signal.incident_id is not None:
        Incident.objects.filter(pk=signal.incident_id).update(feedback=verdict, feedback_by=who, feedback_at=now)
    record_change(
        actor=actor, action="anomaly.feedback", target=signal, before={"feedback": before},
        after={"feedback": verdict}, reason=note, event="anomaly.updated",
    )  # fmt: skip
    return signal


@transaction.atomic
def signal_accept_normal(*, actor: Actor, signal: AnomalySignal, note: str = "") -> AnomalySignal:
    """ "This is the new normal": the detector forgets what it learned of this metric and learns again from
    the component's recent history (the level now included), and the signal is resolved. A level past the
    component's unhealthy threshold cannot be accepted: the thresholds say it is not normal."""
    signal = AnomalySignal.objects.select_for_update().select_related("component").get(pk=signal.pk)
    if signal.status == SignalStatus.RESOLVED:
        raise ConflictError("This signal is already resolved.")
    watched = rules.BY_METRIC.get(signal.metric)
    if watched is None:
        raise DomainError("Only a signal of a watched metric has a level to accept.")
    component = signal.component
    bounds = thresholds.thresholds_for(component.type, component.thresholds).get(signal.metric)
    if bounds is not None and signal.observed_value is not None:
        unhealthy = bounds[1]
        worse = (
            signal.observed_value <= unhealthy if watched.direction == "down" else signal.observed_value >= unhealthy
        )
        if worse:
            raise DomainError(
                f"{signal.observed_value:g} is past {component.name}'s unhealthy threshold for {signal.metric} "
                f"({unhealthy:g}): change the threshold first if this level is acceptable."
            )
    forgotten = DetectorState.objects.filter(component=component, metric=signal.metric).delete()[0]
    signal_mark_resolved(
        signal=signal,
        actor=actor,
        note=f"accepted as the new normal{': ' + note.strip() if note.strip() else ''}",
        now=timezone.now(),
    )
    record_change(
        actor=actor, action="anomaly.accept_normal", target=signal,
        after={"metric": signal.metric, "level": signal.observed_value, "baseline_forgotten": bool(forgotten)},
        reason=note,
    )  # fmt: skip
    return signal
