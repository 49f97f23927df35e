"""What an operator does to detection: acknowledge and resolve signals, tune the detector."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from anomalies.detector import DetectorConfig
from anomalies.models import AnomalySignal, DetectionSettings, SignalStatus
from anomalies.services.lifecycle import signal_mark_resolved
from core314.changes import record_change
from core314.services import ConflictError, DomainError
from core314.tenancy import Actor, acting_user
from health.models import Component


@transaction.atomic
def signal_acknowledge(*, actor: Actor, signal: AnomalySignal, note: str = "") -> AnomalySignal:
    signal = AnomalySignal.objects.select_for_update().get(pk=signal.pk)
    if signal.status != SignalStatus.OPEN:
        raise ConflictError(f"Only an open signal can be acknowledged; this one is {signal.status}.")
    signal.status = SignalStatus.ACKNOWLEDGED
    signal.acknowledged_by = acting_user(actor)
    signal.acknowledged_at = timezone.now()
    if note:
        signal.resolution_note = note
    signal.save()
    record_change(
        actor=actor, action="anomaly.acknowledge", target=signal, before={"status": "open"},
        after={"status": "acknowledged"}, reason=note, event="anomaly.acknowledged",
    )  # fmt: skip
    return signal


@transaction.atomic
def signal_resolve(*, actor: Actor, signal: AnomalySignal, note: str) -> AnomalySignal:
    signal = AnomalySignal.objects.select_for_update().get(pk=signal.pk)
    if signal.status == SignalStatus.RESOLVED:
        raise ConflictError("This signal is already resolved.")
    if not note.strip():
        raise DomainError("Say why it is resolved (a note is required).")
    signal_mark_resolved(signal=signal, actor=actor, note=note.strip(), now=timezone.now())
    return signal


@transaction.atomic
def detection_settings_update(*, actor: Actor, component: Component, **changes: Any) -> DetectionSettings:
    """Override detection defaults for one component (None restores the default); validated, audited."""
    allowed = {"enabled", "threshold", "window", "min_duration", "min_history", "resolve_after_s", "freeze"}
    unknown = set(changes) - allowed
    if unknown:
        raise DomainError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
    row, _ = DetectionSettings.objects.select_for_update().get_or_create(
        component=component, defaults={"owner_id": component.owner_id}
    )
    before = {name: getattr(row, name) for name in allowed}
    for name, value in changes.items():
        setattr(row, name, value)
    config = DetectorConfig().replace(
        **{n: getattr(row, n) for n in ("threshold", "window", "min_duration", "min_history") if getattr(row, n)}
    )
    problems = config.replace(close_threshold=min(config.close_threshold, config.threshold)).problems()
    if row.threshold is not None and not 1.0 <= row.threshold <= 50.0:
        problems.append("threshold must be between 1 and 50")
    if problems:
        raise DomainError("; ".join(problems))
    row.save()
    after = {name: getattr(row, name) for name in allowed}
    record_change(actor=actor, action="detection_settings.update", target=row, before=before, after=after)
    return row
