"""Maintenance windows: made, changed, ended; which one covers a component now; and, when a window ends, the
signals it silenced that are still open are decided again (a fault that outlives maintenance is healed)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from anomalies.models import AnomalySignal, Incident, SignalStatus, Silence
from anomalies.services.incidents import incident_new_episode
from core314.changes import record_change
from core314.services import DomainError
from core314.tenancy import Actor, acting_user, effective_owner
from health.models import Component, ComponentType

MAX_ONE_OFF = timedelta(days=30)
MAX_SERIES = timedelta(days=366)


def _window(silence: Silence, at: datetime) -> tuple[datetime, datetime] | None:
    """The window of ``silence`` that covers ``at``, if one does."""
    if not silence.starts_at <= at < silence.ends_at:
        return None
    if not silence.cron:
        return silence.starts_at, silence.ends_at
    duration = timedelta(seconds=silence.duration_s or 0)
    local = (at - duration).astimezone(ZoneInfo(silence.time_zone))
    opened = next(iter(CronSim(silence.cron, local)), None)  # the first opening after at - duration
    if opened is None or opened > at:
        return None
    return opened, min(opened + duration, silence.ends_at)


def _covers(silence: Silence, component: Component, kind: str) -> bool:
    if silence.kind and silence.kind != kind:
        return False
    if silence.component_id is not None and silence.component_id != component.pk:
        return False
    if silence.match_name and not fnmatch.fnmatchcase(component.name, silence.match_name):
        return False
    if silence.match_tag and silence.match_tag not in (component.tags or []):
        return False
    return not (silence.match_type and silence.match_type != component.type)


def silence_find_active(*, component: Component, kind: str, at: datetime) -> Silence | None:
    """The owner's silence covering this component and kind at ``at``, if any."""
    candidates = Silence.objects.filter(owner_id=component.owner_id, starts_at__lte=at, ends_at__gt=at).filter(
        Q(component=component) | Q(component__isnull=True)
    )
    for silence in candidates.filter(Q(kind=kind) | Q(kind="")).order_by("id"):
        if _covers(silence, component, kind) and _window(silence, at) is not None:
            return silence
    return None


def _check(fields: dict[str, Any]) -> None:
    names = ("component", "kind", "match_name", "match_tag", "match_type")
    if not any(fields.get(name) for name in names):
        raise DomainError("A silence names what it covers: a component, a kind, a name pattern, a tag or a type.")
    if fields["ends_at"] <= fields["starts_at"]:
        raise DomainError("ends_at must be after starts_at.")
    if fields.get("match_type") and fields["match_type"] not in ComponentType.values:
        raise DomainError(f"match_type must be one of {', '.join(ComponentType.values)}.")
    if len(fields.get("match_name", "")) > 100 or len(fields.get("match_tag", "")) > 40:
        raise DomainError("match_name is at most 100 characters, match_tag at most 40.")
    if not fields["cron"]:
        if fields["ends_at"] - fields["starts_at"] > MAX_ONE_OFF:
            raise DomainError("A silence lasts at most 30 days (a recurring one repeats for up to a year).")
        return
    if fields["ends_at"] - fields["starts_at"] > MAX_SERIES:
        raise DomainError("A recurring silence repeats for at most a year.")
    duration = fields.get("duration_s")
    if not isinstance(duration, int) or not 60 <= duration <= 7 * 86_400:
        raise DomainError("duration_s must be 60 s to 7 days for a recurring silence.")
    try:
        zone = ZoneInfo(fields["time_zone"])
        next(iter(CronSim(fields["cron"], fields["starts_at"].astimezone(zone))))
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(f"time_zone {fields['time_zone']!r} is not a known time zone (e.g. Europe/Paris).") from None
    except (CronSimError, StopIteration):
        raise DomainError(f"cron {fields['cron']!r} is not a valid cron expression (e.g. '0 2 * * SUN').") from None


@transaction.atomic
def silence_create(
    *,
    actor: Actor,
    component: Component | None,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    match_name: str = "",
    match_tag: str = "",
    match_type: str = "",
    cron: str = "",
    duration_s: int | None = None,
    time_zone: str = "UTC",
) -> Silence:
    """A one-off window, or a recurring one (``cron`` in ``time_zone``, each ``duration_s`` long)."""
    fields: dict[str, Any] = {
        "component": component, "kind": kind, "starts_at": starts_at, "ends_at": ends_at, "match_name": match_name,
        "match_tag": match_tag, "match_type": match_type, "cron": cron.strip(), "duration_s": duration_s,
        "time_zone": time_zone or "UTC",
    }  # fmt: skip
    _check(fields)
    if not reason.strip():
        raise DomainError("Give a reason for the silence.")
    owner = component.owner if component is not None else effective_owner(actor)
    silence = Silence.objects.create(owner=owner, reason=reason.strip(), created_by=acting_user(actor), **fields)
    record_change(
        actor=actor,
        action="silence.create",
        target=silence,
        after={
            "component": component.name if component else None, "kind": kind, "ends_at": ends_at.isoformat(),
            "match": [match_name, match_tag, match_type], "cron": fields["cron"], "duration_s": duration_s,
        },
        reason=reason,
        event="silence.created",
    )  # fmt: skip
    return silence


@transaction.atomic
def silence_update(
    *, actor: Actor, silence: Silence, ends_at: datetime | None = None, reason: str | None = None
) -> Silence:
    """Move a silence's end or change its reason (what it silences stays: end it and make another)."""
    silence = Silence.objects.select_for_update().get(pk=silence.pk)
    before = {"ends_at": silence.ends_at.isoformat(), "reason": silence.reason}
    if ends_at is not None:
        fields = {name: getattr(silence, name) for name in ("component", "kind", "match_name", "match_tag",
                                                             "match_type", "starts_at", "cron", "duration_s",
                                                             "time_zone")}  # fmt: skip
        _check({**fields, "ends_at": ends_at})
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
    if silence.ends_at <= timezone.now():
        silences_release(now=timezone.now(), silences=[silence])
    return silence


@transaction.atomic
def silence_end(*, actor: Actor, silence: Silence) -> Silence:
    """End a silence now: the signals it kept quiet that are still open are decided at once."""
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
    silences_release(now=now, silences=[silence])
    return silence


def _ended_windows(silence: Silence, now: datetime) -> bool:
    """Has a window of this silence ended since it last released its signals?"""
    since = silence.released_at or silence.starts_at
    if not silence.cron:
        return silence.ends_at <= now and (silence.released_at is None or silence.released_at < silence.ends_at)
    duration = timedelta(seconds=silence.duration_s or 0)
    local = (since - duration).astimezone(ZoneInfo(silence.time_zone))
    for opened in CronSim(silence.cron, local):
        closed = min(opened + duration, silence.ends_at)
        if closed > now or opened >= silence.ends_at:
            return False
        if closed > since:
            return True
    return False


@transaction.atomic
def silences_release(*, now: datetime | None = None, silences: Iterable[Silence] | None = None) -> int:
    """For every silence whose window ended since it last did this: its still-open, silenced signals are no
    longer silenced (unless another silence still covers them) and their incidents are decided again (a new
    episode). Returns how many signals were released. Run by beat's sweep; ending a silence runs it at once."""
    now = now or timezone.now()
    if silences is None:
        recent = Silence.objects.filter(starts_at__lte=now).filter(
            Q(released_at__isnull=True) | Q(released_at__lt=now - timedelta(seconds=1))
        )
        silences = [s for s in recent.filter(ends_at__gte=now - timedelta(days=1)) if _ended_windows(s, now)]
    released = 0
    for silence in silences:
        count = 0
        quiet = (
            AnomalySignal.objects.select_for_update(of=("self",))
            .select_related("component", "incident")
            .filter(owner_id=silence.owner_id, silenced=True)
            .exclude(status=SignalStatus.RESOLVED)
        )
        for signal in quiet:
            if not _covers(silence, signal.component, signal.kind):
                continue
            if silence_find_active(component=signal.component, kind=signal.kind, at=now) is not None:
                continue  # another window still covers it
            AnomalySignal.objects.filter(pk=signal.pk).update(silenced=False)
            signal.silenced = False
            count += 1
            if signal.incident is not None:
                Incident.objects.filter(pk=signal.incident.pk).update(silenced=False)
                why = f"the silence ({silence.reason}) ended and {signal} is still open"
                incident_new_episode(incident=signal.incident, signal=signal, why=why, now=now)
        Silence.objects.filter(pk=silence.pk).update(released_at=now)
        if count:
            record_change(
                actor=None, system_label="detector", action="silence.released", target=silence,
                after={"signals": count}, reason="the window ended: what it silenced is decided again",
            )  # fmt: skip
        released += count
    return released
