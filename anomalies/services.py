"""Anomaly signals: detection from new health events, one signal per incident, and operator actions."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from anomalies import rules
from anomalies.detector import Detector, DetectorConfig
from anomalies.exhaustion import ExhaustionForecaster
from anomalies.models import AnomalySignal, DetectionSettings, DetectorState, SignalStatus, Silence
from core314.audit import audit_record
from core314.live import publish_on_commit
from core314.services import ConflictError, DomainError
from core314.tenancy import Actor, effective_owner
from health.models import Component, SystemHealthEvent

logger = logging.getLogger(__name__)

MAX_EVENTS = 5000  # per run; a backlog larger than this is read by the next run
WARM_UP_EVENTS = 1000


# --- Detection ---------------------------------------------------------------------------------------------


RECENT_RELEASE = 3


def detector_config(component: Component, watched: rules.Watched) -> DetectorConfig:
    config = DetectorConfig(direction=watched.direction, abs_floor=watched.floor, min_duration=watched.min_duration)
    overrides: DetectionSettings | None = getattr(component, "detection_settings", None)
    if overrides is not None:
        changes = {
            name: getattr(overrides, name)
            for name in ("threshold", "window", "min_duration", "min_history", "freeze")
            if getattr(overrides, name) is not None
        }
        config = config.replace(**changes)
    return config


@dataclass
class _Found:
    """The state of one metric's incident after the new events."""

    watched: rules.Watched
    kind: str
    value: float
    expected: float
    low: float
    high: float
    z: float
    ratio: float
    windows: int
    status: str
    window_start: datetime
    version_changed: bool
    extra: str = ""


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
        found: list[_Found] = []
        back_to_normal: list[tuple[str, datetime]] = []
        for watched in rules.WATCHED:
            state_row = states.get(watched.metric) or DetectorState(component=component, metric=watched.metric)
            result = _run_metric(component, watched, state_row, events)
            if result is not None:
                found.append(result)
            elif state_row.state.get("normal_at"):
                back_to_normal.append((watched.metric, datetime.fromisoformat(state_row.state["normal_at"])))
        touched = [_open_or_update(component, f, now) for f in found]
        _mark_normal(component, back_to_normal)
        resolved = signals_auto_resolve(component_ids=[component.pk], now=now)
    return touched + resolved


def _run_metric(
    component: Component, watched: rules.Watched, state_row: DetectorState, events: list[dict[str, Any]]
) -> _Found | None:
    """Replay the unseen events through this metric's detector; return the incident if one is open."""
    stored = state_row.state or {}
    detector = Detector(detector_config(component, watched), state=stored.get("detector"))
    forecaster = ExhaustionForecaster(limit=watched.limit) if watched.limit else None
    if forecaster is not None:
        for point in stored.get("forecast", []):
            forecaster.points.append((point[0], point[1]))
    last = state_row.last_window_start
    incident: _Found | None = None
    windows = int(stored.get("windows", 0))
    previous_version = stored.get("version", "")
    # Windows since the version last changed: an incident starting within RECENT_RELEASE windows of a release
    # points at the release (the rate may need a window or two to cross the threshold).
    since_release = int(stored.get("since_release", RECENT_RELEASE))
    normal_at = stored.get("normal_at")
    for event in events:
        if last is not None and event["window_start"] <= last:
            continue
        value = event[watched.metric]
        if previous_version and event["version"] and event["version"] != previous_version:
            since_release = 0
        else:
            since_release = min(since_release + 1, RECENT_RELEASE)
        version_changed = since_release < RECENT_RELEASE
        previous_version = event["version"] or previous_version
        last = event["window_start"]
        if value is None:
            continue
        stamp = event["window_start"].timestamp()
        decision = detector.update(stamp, float(value))
        forecast = forecaster.update(stamp, float(value)) if forecaster is not None else None
        near_limit = watched.limit is not None and value >= rules.RESOURCE_NEAR_LIMIT
        soon = (
            forecast is not None
            and forecast.seconds_to_limit is not None
            and (forecast.seconds_to_limit <= rules.EXHAUSTION_HORIZON_S)
        )
        anomalous = decision.is_anomaly or (not decision.learning and (near_limit or soon))
        if anomalous and watched.limit is not None and value < rules.RESOURCE_CALM * watched.limit and not soon:
            # CPU going from 5 % to 20 % is statistically unusual and operationally nothing: a resource is a
            # problem near its limit, or on its way there.
            anomalous = False
        if anomalous:
            windows += 1
            normal_at = None
            expected = decision.expected if decision.expected is not None else float(value)
            threshold = detector.config.threshold
            ratio = max(decision.z / threshold, 1.0) if decision.z else 1.0
            kind = watched.kind
            if watched.metric == "throughput_rps":
                kind = rules.DROP if value < expected else rules.SURGE
            extra = ""
            if soon and forecast is not None:
                minutes = forecast.seconds_to_limit / 60
                extra = f" At this rate it reaches {watched.limit:g}{watched.unit} in about {minutes:.0f} min."
            elif near_limit:
                extra = f" It is within {100 - rules.RESOURCE_NEAR_LIMIT:g} points of its limit."
            incident = _Found(
                watched, kind, float(value), expected,
                decision.band_low if decision.band_low is not None else expected,
                decision.band_high if decision.band_high is not None else expected,
                decision.z, ratio, windows, event["status"], event["window_start"], version_changed, extra,
            )  # fmt: skip
        elif decision.closed or (not decision.incident_open and windows):
            windows = 0
            normal_at = normal_at or event["window_start"].isoformat()
    state_row.state = {
        "detector": detector.state(),
        "forecast": [list(p) for p in forecaster.points] if forecaster is not None else [],
        "windows": windows,
        "version": previous_version,
        "since_release": since_release,
        "normal_at": normal_at,
    }
    state_row.last_window_start = last
    state_row.save()
    return incident


def _active_silence(component: Component, kind: str, at: datetime) -> Silence | None:
    return (
        Silence.objects.filter(owner_id=component.owner_id, starts_at__lte=at, ends_at__gt=at)
        .filter(Q(component=component) | Q(component__isnull=True))
        .filter(Q(kind=kind) | Q(kind=""))
        .first()
    )


def _cause_for(component: Component) -> AnomalySignal | None:
    """An open signal on something this component depends on: then this signal is its symptom."""
    return (
        AnomalySignal.objects.filter(component__in=component.depends_on.all(), cause__isnull=True)
        .exclude(status=SignalStatus.RESOLVED)
        .order_by("first_seen_at")
        .first()
    )


def _open_or_update(component: Component, found: _Found, now: datetime) -> AnomalySignal:
    watched = found.watched
    severity = rules.severity(found.ratio, found.status)
    explanation = rules.explain(watched, found.value, found.expected, found.low, found.high, found.z, found.windows)
    explanation += found.extra
    signal = (
        AnomalySignal.objects.select_for_update()
        .filter(component=component, kind=found.kind, metric=watched.metric)
        .exclude(status=SignalStatus.RESOLVED)
        .first()
    )
    fields = {
        "observed_value": found.value,
        "expected_value": found.expected,
        "band_low": found.low,
        "band_high": found.high,
        "deviation": round(found.z, 3),
        "last_seen_at": found.window_start,
        "window_start": found.window_start,
        "normal_since": None,
        "explanation": explanation,
    }
    if signal is None:
        silence = _active_silence(component, found.kind, now)
        signal = AnomalySignal.objects.create(
            owner_id=component.owner_id,
            component=component,
            kind=found.kind,
            metric=watched.metric,
            severity=severity,
            confidence=rules.confidence(found.ratio, found.windows),
            peak_value=found.value,
            occurrences=1,
            first_seen_at=found.window_start,
            recommended_actions=rules.recommended_actions(found.kind, watched.metric, found.version_changed),
            silenced=silence is not None,
            cause=_cause_for(component),
            **fields,
        )
        audit_record(
            actor=None,
            system_label="detector",
            action="anomaly.open",
            target=signal,
            after={"kind": found.kind, "metric": watched.metric, "severity": severity, "silenced": signal.silenced},
            reason=explanation,
        )
        publish_on_commit(row=signal, event="anomaly.opened", data={"severity": severity, "kind": found.kind})
        _enqueue_root_cause(signal.pk)
        _announce(signal.pk)
        return signal
    worse = rules.SEVERITY_ORDER.index(severity) > rules.SEVERITY_ORDER.index(signal.severity)
    rises = (
        found.value > (signal.peak_value or found.value)
        if watched.direction != "down"
        else found.value < (signal.peak_value or found.value)
    )
    for name, value in fields.items():
        setattr(signal, name, value)
    signal.occurrences += 1
    signal.confidence = max(signal.confidence, rules.confidence(found.ratio, found.windows))
    if rises:
        signal.peak_value = found.value
    if worse:
        signal.severity = severity
        audit_record(
            actor=None,
            system_label="detector",
            action="anomaly.escalate",
            target=signal,
            after={"severity": severity},
            reason=explanation,
        )
        _announce(signal.pk)
    signal.save()
    publish_on_commit(row=signal, event="anomaly.updated", data={"severity": signal.severity})
    return signal


def _announce(signal_id: int) -> None:
    """Tell listeners (healing) after commit; a failing listener must not undo detection."""
    from anomalies.signals import anomaly_raised

    transaction.on_commit(lambda: anomaly_raised.send_robust(sender=AnomalySignal, signal_id=signal_id))


def _enqueue_root_cause(signal_id: int) -> None:
    from anomalies.tasks import root_cause

    transaction.on_commit(lambda: root_cause.delay(signal_id))


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
        if now - signal.normal_since >= timedelta(seconds=wait):
            _resolve(signal, actor=None, note=f"back in its normal band for {wait} s", now=now)
            resolved.append(signal)
    return resolved


def _resolve(signal: AnomalySignal, *, actor: Actor, note: str, now: datetime) -> None:
    before = signal.status
    signal.status = SignalStatus.RESOLVED
    signal.resolved_at = now
    signal.resolved_by = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    signal.resolution_note = note
    signal.save()
    audit_record(
        actor=actor,
        system_label="detector",
        action="anomaly.resolve",
        target=signal,
        before={"status": before},
        after={"status": SignalStatus.RESOLVED},
        reason=note,
    )
    publish_on_commit(row=signal, event="anomaly.resolved", data={})


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


# --- Operator actions --------------------------------------------------------------------------------------


@transaction.atomic
def signal_acknowledge(*, actor: Actor, signal: AnomalySignal, note: str = "") -> AnomalySignal:
    signal = AnomalySignal.objects.select_for_update().get(pk=signal.pk)
    if signal.status != SignalStatus.OPEN:
        raise ConflictError(f"Only an open signal can be acknowledged; this one is {signal.status}.")
    signal.status = SignalStatus.ACKNOWLEDGED
    signal.acknowledged_by = actor
    signal.acknowledged_at = timezone.now()
    if note:
        signal.resolution_note = note
    signal.save()
    audit_record(
        actor=actor, action="anomaly.acknowledge", target=signal, before={"status": "open"},
        after={"status": "acknowledged"}, reason=note,
    )  # fmt: skip
    publish_on_commit(row=signal, event="anomaly.acknowledged", data={})
    return signal


@transaction.atomic
def signal_resolve(*, actor: Actor, signal: AnomalySignal, note: str) -> AnomalySignal:
    signal = AnomalySignal.objects.select_for_update().get(pk=signal.pk)
    if signal.status == SignalStatus.RESOLVED:
        raise ConflictError("This signal is already resolved.")
    if not note.strip():
        raise DomainError("Say why it is resolved (a note is required).")
    _resolve(signal, actor=actor, note=note.strip(), now=timezone.now())
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
        reason=reason.strip(), created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )  # fmt: skip
    audit_record(
        actor=actor,
        action="silence.create",
        target=silence,
        after={"component": component.name if component else None, "kind": kind, "ends_at": ends_at.isoformat()},
        reason=reason,
    )
    publish_on_commit(row=silence, event="silence.created", data={})
    return silence


@transaction.atomic
def silence_end(*, actor: Actor, silence: Silence) -> Silence:
    silence = Silence.objects.select_for_update().get(pk=silence.pk)
    now = timezone.now()
    if silence.ends_at <= now:
        return silence
    silence.ends_at = max(now, silence.starts_at + timedelta(microseconds=1))
    silence.save(update_fields=["ends_at"])
    audit_record(actor=actor, action="silence.end", target=silence, after={"ends_at": silence.ends_at.isoformat()})
    publish_on_commit(row=silence, event="silence.ended", data={})
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
    audit_record(actor=actor, action="detection_settings.update", target=row, before=before, after=after)
    return row


# --- Alerts from other monitors --------------------------------------------------------------------------

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
    from core314.redact import redact

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
            _resolve(existing, actor=None, note=f"resolved by the sender ({name})", now=now)
            return AlertOutcome(fingerprint, component.name, "resolved", existing.pk)
        level = ALERT_SEVERITY.get(severity.lower(), "medium")
        if existing is not None:
            existing.occurrences += 1
            existing.last_seen_at = now
            existing.explanation = summary or existing.explanation
            if rules.SEVERITY_ORDER.index(level) > rules.SEVERITY_ORDER.index(existing.severity):
                existing.severity = level
                _announce(existing.pk)
            existing.save()
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
            silenced=_active_silence(component, "external_alert", now) is not None,
            cause=_cause_for(component),
        )
        audit_record(
            actor=actor,
            action="anomaly.open",
            target=signal,
            after={"kind": "external_alert", "alert": name, "severity": level, "fingerprint": fingerprint},
            reason=summary,
        )
        publish_on_commit(row=signal, event="anomaly.opened", data={"severity": level, "kind": "external_alert"})
        _announce(signal.pk)
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


# --- Root-cause analysis ------------------------------------------------------------------------------------


def _rca_facts(signal: AnomalySignal) -> dict[str, Any]:
    recent = list(
        SystemHealthEvent.objects.filter(component=signal.component)
        .exclude(source="selftest")
        .order_by("-window_start")
        .values("window_start", "status", "version", *[w.metric for w in rules.WATCHED])[:12]
    )
    metrics: dict[str, list[Any]] = {w.metric: [] for w in rules.WATCHED}
    for event in reversed(recent):
        for name in metrics:
            metrics[name].append(event[name])
    return {
        "component": {"name": signal.component.name, "type": signal.component.type},
        "anomaly": {
            "kind": signal.kind,
            "metric": signal.metric,
            "observed": signal.observed_value,
            "expected": signal.expected_value,
            "band": [signal.band_low, signal.band_high],
            "explanation": signal.explanation,
        },
        "metrics": {k: v for k, v in metrics.items() if any(x is not None for x in v)} or {signal.metric: []},
        "versions": sorted({e["version"] for e in recent if e["version"]}),
        "depends_on": [c.name for c in signal.component.depends_on.all()],
    }


def _rca_budget_left() -> bool:
    """The per-hour cap on LLM calls, counted in Redis so every worker shares it."""
    from core314.redis import get_redis, key

    hour = timezone.now().strftime("%Y%m%d%H")
    counter = key("rca", "calls", hour)
    redis = get_redis()
    used = redis.incr(counter)
    redis.expire(counter, 7200)
    return used <= settings.CORE314_LLM_MAX_CALLS_PER_HOUR


def signal_root_cause(*, signal_id: int) -> AnomalySignal | None:
    """Ask the LLM for a root cause, if one is configured and the hourly budget allows; otherwise, or on
    any failure, record that the statistical explanation stands. Runs outside detection, never blocks it."""
    from anomalies import rca

    signal = AnomalySignal.objects.select_related("component").filter(pk=signal_id).first()
    if signal is None or signal.root_cause:
        return signal
    result: dict[str, Any]
    if not settings.OPENAI_API_KEY:
        result = {"source": "statistical", "summary": signal.explanation, "reason": "no LLM is configured"}
    elif not _rca_budget_left():
        result = {"source": "statistical", "summary": signal.explanation, "reason": "hourly LLM call cap reached"}
    else:
        try:
            answer = rca.ask(
                _rca_facts(signal),
                api_key=settings.OPENAI_API_KEY,
                base_url=settings.OPENAI_BASE_URL,
                model=settings.CORE314_LLM_MODEL,
                timeout=settings.CORE314_LLM_TIMEOUT,
                retries=settings.CORE314_LLM_MAX_RETRIES,
            )
            result = answer.as_dict(settings.CORE314_LLM_MODEL)
        except Exception as exc:  # a failing LLM must never break the loop; the reason is kept
            logger.warning("root-cause analysis of signal %s failed: %s", signal_id, exc)
            result = {
                "source": "statistical",
                "summary": signal.explanation,
                "reason": f"LLM answer not used: {type(exc).__name__}: {str(exc)[:200]}",
            }
    with transaction.atomic():
        signal = AnomalySignal.objects.select_for_update().get(pk=signal_id)
        if signal.root_cause:
            return signal
        signal.root_cause = result
        signal.save(update_fields=["root_cause", "updated_at"])
        audit_record(
            actor=None,
            system_label="root-cause",
            action="anomaly.root_cause",
            target=signal,
            after={"source": result["source"]},
            reason=result.get("reason", "") or result.get("summary", "")[:300],
        )
        publish_on_commit(row=signal, event="anomaly.updated", data={})
    return signal
