"""Incidents: the signals of one fault, grouped. One page, one healing decision per episode.

A new signal joins the open incident of its component, or of a component it depends on or that depends on it,
when that incident saw something within ``CORE314_INCIDENT_WINDOW`` seconds; else it opens one. An incident
lives in episodes: when every member was back in band (quiet) and one deviates again, or when an action
resolved what it was judged on while another member still deviates, a new episode begins and healing decides
again. It resolves when its last member resolves.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from anomalies import rules
from anomalies.models import AnomalySignal, Incident, SignalStatus
from anomalies.signals import anomaly_raised
from core314.changes import record_change, send_on_commit
from core314.tenancy import Actor


def _lock_owner(owner_id: int) -> None:
    # Incidents of one owner are attached one at a time, across workers: two components of one fault
    # detected at the same moment must not open two incidents.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"core314.incident:{owner_id}"])


def _title(signal: AnomalySignal) -> str:
    return f"{signal.get_kind_display()} on {signal.component.name}"[:200]


def _worse(a: str, b: str) -> bool:
    return rules.SEVERITY_ORDER.index(a) > rules.SEVERITY_ORDER.index(b)


def incident_attach(*, signal: AnomalySignal, now: datetime) -> tuple[Incident, bool]:
    """Put a newly opened signal into its fault's incident. Returns the incident and whether healing should
    decide (a new incident, a new episode, or more severe than before)."""
    component = signal.component
    _lock_owner(component.owner_id)
    related = {component.pk, *component.depends_on.values_list("pk", flat=True)}
    related |= set(component.dependents.values_list("pk", flat=True))
    window = timedelta(seconds=settings.CORE314_INCIDENT_WINDOW)
    incident = (
        Incident.objects.select_for_update()
        .filter(owner_id=component.owner_id, component_id__in=related, last_seen_at__gt=now - window)
        .exclude(status=SignalStatus.RESOLVED)
        .order_by("opened_at", "id")
        .first()
    )
    if incident is None:
        incident = Incident.objects.create(
            owner_id=component.owner_id,
            component=signal.cause.component if signal.cause is not None else component,
            title=_title(signal),
            severity=signal.severity,
            opened_at=signal.first_seen_at,
            last_seen_at=max(signal.last_seen_at, now),
            episode_started_at=now,
            silenced=signal.silenced,
        )
        AnomalySignal.objects.filter(pk=signal.pk).update(incident=incident)
        signal.incident = incident
        record_change(
            actor=None,
            system_label="detector",
            action="incident.open",
            target=incident,
            after={"title": incident.title, "severity": incident.severity, "signal": signal.pk},
            reason=signal.explanation,
            event="incident.opened",
            data={"severity": incident.severity},
        )
        return incident, True
    was_quiet = incident_is_quiet(incident=incident)
    AnomalySignal.objects.filter(pk=signal.pk).update(incident=incident)
    signal.incident = incident
    rose = _worse(signal.severity, incident.severity)
    if rose:
        incident.severity = signal.severity
    incident.last_seen_at = max(incident.last_seen_at, signal.last_seen_at, now)
    incident.silenced = incident.silenced and signal.silenced
    incident.save(update_fields=["severity", "last_seen_at", "silenced", "updated_at"])
    record_change(
        actor=None,
        system_label="detector",
        action="incident.join",
        target=incident,
        after={"signal": signal.pk, "kind": signal.kind, "component": component.name, "severity": incident.severity},
        event="incident.updated",
        data={"severity": incident.severity},
    )
    if was_quiet:
        incident_new_episode(incident=incident, signal=signal, why=f"{_title(signal)}: deviating again", now=now)
        return incident, False  # the new episode announced itself
    return incident, rose


def incident_is_quiet(*, incident: Incident) -> bool:
    """Every member that is still open is back in its normal band (or there is none)."""
    open_members = incident.signals.exclude(status=SignalStatus.RESOLVED)
    return not open_members.filter(normal_since__isnull=True).exists()


def incident_new_episode(*, incident: Incident, signal: AnomalySignal, why: str, now: datetime) -> Incident:
    """The fault is back (or still there after what was done): healing decides again, the chain goes on."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    incident.episode += 1
    incident.episode_started_at = now
    incident.last_seen_at = max(incident.last_seen_at, now)
    incident.save(update_fields=["episode", "episode_started_at", "last_seen_at", "updated_at"])
    record_change(
        actor=None,
        system_label="detector",
        action="incident.episode",
        target=incident,
        after={"episode": incident.episode, "signal": signal.pk},
        reason=why,
        event="incident.updated",
        data={"episode": incident.episode},
        signal=anomaly_raised,
        signal_kwargs={"signal_id": signal.pk},
    )
    return incident


def incident_signal_updated(*, signal: AnomalySignal, came_back: bool, rose: bool, now: datetime) -> None:
    """A member signal deviated again: keep its incident current; a fault back from quiet is a new episode,
    a fault that got worse is decided again."""
    incident = signal.incident
    if incident is None:
        return
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    quiet_before = (
        came_back
        and not incident.signals.exclude(status=SignalStatus.RESOLVED)
        .exclude(pk=signal.pk)
        .filter(normal_since__isnull=True)
        .exists()
    )
    incident.last_seen_at = max(incident.last_seen_at, signal.last_seen_at)
    severity_rose = _worse(signal.severity, incident.severity)
    if severity_rose:
        incident.severity = signal.severity
    incident.save(update_fields=["last_seen_at", "severity", "updated_at"])
    if quiet_before:
        incident_new_episode(incident=incident, signal=signal, why=f"{_title(signal)}: deviating again", now=now)
    elif rose or severity_rose:
        send_on_commit(anomaly_raised, sender=AnomalySignal, signal_id=signal.pk)


def incident_refresh(*, incident: Incident, actor: Actor = None, now: datetime | None = None) -> Incident:
    """After a member resolved: the incident resolves with its last member, else its severity follows the
    members still open."""
    now = now or timezone.now()
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if incident.status == SignalStatus.RESOLVED:
        return incident
    open_members = list(incident.signals.exclude(status=SignalStatus.RESOLVED).values_list("severity", flat=True))
    if open_members:
        worst = max(open_members, key=rules.SEVERITY_ORDER.index)
        if worst != incident.severity:
            incident.severity = worst
            incident.save(update_fields=["severity", "updated_at"])
        return incident
    incident.status = SignalStatus.RESOLVED
    incident.resolved_at = now
    incident.save(update_fields=["status", "resolved_at", "updated_at"])
    record_change(
        actor=actor,
        system_label="detector",
        action="incident.resolve",
        target=incident,
        after={"status": SignalStatus.RESOLVED},
        reason="every signal of the incident is resolved",
        event="incident.resolved",
    )
    return incident
