"""Alerts from other monitors (a generic webhook and Prometheus Alertmanager) as anomaly signals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from anomalies import rules
from anomalies.models import AnomalySignal, SignalStatus
from anomalies.services.incidents import incident_signal_updated
from anomalies.services.lifecycle import signal_find_cause, signal_mark_resolved, signal_opened
from anomalies.services.silences import silence_find_active
from core314.live import publish_on_commit
from core314.redact import redact
from core314.services import DomainError
from core314.tenancy import Actor
from health.models import Component

ALERT_SEVERITY = {
    "critical": "critical", "page": "critical", "error": "high", "high": "high", "major": "high",
    "warning": "medium", "warn": "medium", "medium": "medium", "minor": "low", "info": "low", "low": "low",
}  # fmt: skip


@dataclass
class AlertOutcome:
    fingerprint: str
    component: str | None
    result: str  # opened, updated, resolved, ignored, unmatched
    signal_id: int | None = None


def external_alert_receive(
    *,
    actor: Actor,
    component: Component,
    name: str,
    status: str,
    fingerprint: str,
    severity: str = "",
    summary: str = "",
    started_at: datetime | None = None,
) -> AlertOutcome:
    """One alert from another monitor: open or update its signal, or resolve it when the sender says so.

    Deduplicated by the sender's fingerprint (else component and alert name), so a re-sent alert updates
    the open signal instead of adding one.
    """
    if status not in {"firing", "resolved"}:
        raise DomainError("status must be firing or resolved.")
    fingerprint = (fingerprint or f"{component.pk}:{name}")[:128]
    now = timezone.now()
    with transaction.atomic():
        existing = (
            AnomalySignal.objects.select_for_update()
            .filter(component=component, kind="external_alert")
            .filter(Q(fingerprint=fingerprint) | Q(metric=f"alert:{name}"[:64]))
            .exclude(status=SignalStatus.RESOLVED)
            .first()
        )
        summary = redact(summary, limit=1000)
        if status == "resolved":
            if existing is None:
                return AlertOutcome(fingerprint, component.name, "ignored")
            signal_mark_resolved(signal=existing, actor=None, note=f"resolved by the sender ({name})", now=now)
            return AlertOutcome(fingerprint, component.name, "resolved", existing.pk)
        level = ALERT_SEVERITY.get(severity.lower(), "medium")
        if existing is not None:
            existing.occurrences += 1
            existing.last_seen_at = now
            existing.explanation = summary or existing.explanation
            rose = rules.SEVERITY_ORDER.index(level) > rules.SEVERITY_ORDER.index(existing.severity)
            if rose:
                existing.severity = level
            existing.save()
            incident_signal_updated(signal=existing, came_back=False, rose=rose, now=now)
            publish_on_commit(row=existing, event="anomaly.updated", data={"severity": existing.severity})
            return AlertOutcome(fingerprint, component.name, "updated", existing.pk)
        signal = AnomalySignal.objects.create(
            owner_id=component.owner_id,
            component=component,
            kind="external_alert",
            metric=f"alert:{name}"[:64],
            severity=level,
            confidence=0.9,
            fingerprint=fingerprint,
            first_seen_at=started_at or now,
            last_seen_at=now,
            explanation=summary or f"{name} is firing (from an external monitor).",
            recommended_actions=rules.recommended_actions("external_alert", ""),
            silenced=silence_find_active(component=component, kind="external_alert", at=now) is not None,
            cause=signal_find_cause(component=component),
        )
        signal_opened(signal=signal, reason=summary or f"{name} is firing", now=now, actor=actor)
        return AlertOutcome(fingerprint, component.name, "opened", signal.pk)


def alertmanager_receive(*, actor: Actor, payload: Any) -> list[AlertOutcome]:
    """Prometheus Alertmanager's webhook (version 4). The component is the alert's ``component``,
    ``service``, ``job`` or ``instance`` label, the first that names one of the caller's components."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise DomainError("Not an Alertmanager webhook payload: expected an object with an 'alerts' array.")
    components = {c.name: c for c in Component.objects.visible_to(actor)}
    outcomes = []
    for index, alert in enumerate(payload["alerts"]):
        if not isinstance(alert, dict) or not isinstance(alert.get("labels", {}), dict):
            raise DomainError(f"alerts[{index}] must be an object with a labels object.")
        labels = alert.get("labels", {})
        annotations = alert.get("annotations", {}) if isinstance(alert.get("annotations"), dict) else {}
        fingerprint = str(alert.get("fingerprint") or "")
        target = None
        for key in ("component", "service", "job", "instance"):
            value = str(labels.get(key, ""))
            if value in components:
                target = components[value]
                break
        if target is None:
            outcomes.append(AlertOutcome(fingerprint, None, "unmatched"))
            continue
        started = None
        if isinstance(alert.get("startsAt"), str):
            try:
                started = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
            except ValueError:
                started = None
        outcomes.append(
            external_alert_receive(
                actor=actor,
                component=target,
                name=str(labels.get("alertname", "alert"))[:50],
                status=str(alert.get("status") or payload.get("status") or "firing"),
                fingerprint=fingerprint,
                severity=str(labels.get("severity", "")),
                summary=str(annotations.get("summary") or annotations.get("description") or ""),
                started_at=started if started and started.tzinfo else None,
            )
        )
    return outcomes
