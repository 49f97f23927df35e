"""What an operator does to detection: acknowledge and resolve signals, silence them, tune the detector."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from anomalies.detector import DetectorConfig
from anomalies.models import AnomalySignal, DetectionSettings, SignalStatus, Silence
from anomalies.services.lifecycle import signal_mark_resolved
from core314.changes import record_change
from core314.services import ConflictError, DomainError
from core314.tenancy import Actor, acting_user, effective_owner
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
def silence_create(
    *,
    actor: Actor,
    component: Component | None,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
) -> Silence:
    if component is None and not kind:
        raise DomainError("A silence names a component, a kind, or both.")
    if ends_at <= starts_at:
        raise DomainError("ends_at must be after starts_at.")
    if ends_at - starts_at > timedelta(days=30):
        raise DomainError("A silence lasts at most 30 days.")
    if not reason.strip():
        raise DomainError("Give a reason for the silence.")
    owner = component.owner if component is not None else effective_owner(actor)
    silence = Silence.objects.create(
        owner=owner, component=component, kind=kind, starts_at=starts_at, ends_at=ends_at,
        reason=reason.strip(), created_by=acting_user(actor),
    )  # fmt: skip
    record_change(
        actor=actor,
        action="silence.create",
        target=silence,
        after={"component": component.name if component else None, "kind": kind, "ends_at": ends_at.isoformat()},
        reason=reason,
        event="silence.created",
    )
    return silence


@transaction.atomic
def silence_update(
    *, actor: Actor, silence: Silence, ends_at: datetime | None = None, reason: str | None = None
) -> Silence:
    """Move a silence's end or change its reason (what it silences stays: end it and make another)."""
    silence = Silence.objects.select_for_update().get(pk=silence.pk)
    before = {"ends_at": silence.ends_at.isoformat(), "reason": silence.reason}
    if ends_at is not None:
        if ends_at <= silence.starts_at:
            raise DomainError("ends_at must be after starts_at.")
        if ends_at - silence.starts_at > timedelta(days=30):
            raise DomainError("A silence lasts at most 30 days.")
        silence.ends_at = ends_at
    if reason is not None:
        if not reason.strip():
            raise DomainError("Give a reason for the silence.")
        silence.reason = reason.strip()
    silence.save(update_fields=["ends_at", "reason"])
    record_change(
        actor=actor,
        action="silence.update",
        target=silence,
        before=before,
        after={"ends_at": silence.ends_at.isoformat(), "reason": silence.reason},
        event="silence.updated",
    )
    return silence


@transaction.atomic
def silence_end(*, actor: Actor, silence: Silence) -> Silence:
    silence = Silence.objects.select_for_update().get(pk=silence.pk)
    now = timezone.now()
    if silence.ends_at <= now:
        return silence
    silence.ends_at = max(now, silence.starts_at + timedelta(microseconds=1))
    silence.save(update_fields=["ends_at"])
    record_change(
        actor=actor,
        action="silence.end",
        target=silence,
        after={"ends_at": silence.ends_at.isoformat()},
        event="silence.ended",
    )
    return silence


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
