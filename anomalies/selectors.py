from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, F, Prefetch, Q, QuerySet
from django.utils import timezone

from anomalies import decision, rules
from anomalies.detector import Detector
from anomalies.models import (
    AnomalySignal,
    DetectionSettings,
    Feedback,
    Incident,
    Severity,
    SignalStatus,
    Silence,
)
from anomalies.rules import BY_METRIC
from core314.models import AuditLogEntry
from core314.tenancy import Actor
from health import thresholds
from health.models import Component, SystemHealthEvent

METRIC_FIELDS = set(BY_METRIC)


def signal_list(*, actor: Actor) -> QuerySet[AnomalySignal]:
    """Signals, most recently seen first; filters: ``anomalies.filters.SignalFilter``."""
    return (
        AnomalySignal.objects.visible_to(actor)
        .select_related("component", "cause__component", "incident")
        .order_by("-last_seen_at", "-id")
    )


def incident_list(*, actor: Actor) -> QuerySet[Incident]:
    """Incidents, most recently active first, with their members; filters: ``anomalies.filters.IncidentFilter``."""
    members = AnomalySignal.objects.select_related("component").order_by("first_seen_at", "id")
    return (
        Incident.objects.visible_to(actor)
        .select_related("component")
        .prefetch_related(Prefetch("signals", queryset=members))
        .order_by("-last_seen_at", "-id")
    )


def incident_timeline(*, actor: Actor, incident: Incident) -> QuerySet[AuditLogEntry]:
    """What happened in an incident, oldest first: its own entries, its signals', its actions' and decisions'."""
    signal_ids = [str(pk) for pk in incident.signals.values_list("pk", flat=True)]
    action_ids = [str(pk) for pk in incident.recovery_actions.values_list("pk", flat=True)]
    entries = AuditLogEntry.objects.visible_to(actor).filter(
        Q(object_type="anomalies.incident", object_id=str(incident.pk))
        | Q(object_type="anomalies.anomalysignal", object_id__in=signal_ids)
        | Q(object_type="recovery.recoveryaction", object_id__in=action_ids)
    )
    return entries.order_by("created_at", "id")


def pages_per_component(*, actor: Actor, weeks: int = 4, now: datetime | None = None) -> list[dict[str, Any]]:
    """The detector's report card per component: pages (incidents) a week over the last ``weeks`` weeks, how
    many were marked real or false, and the share real among those marked."""
    now = now or timezone.now()
    rows = (
        Incident.objects.visible_to(actor)
        .filter(opened_at__gte=now - timedelta(weeks=weeks))
        .order_by()
        .values("component_id", "component__name")
        .annotate(
            pages=Count("id"),
            real=Count("id", filter=Q(feedback=Feedback.REAL)),
            false=Count("id", filter=Q(feedback=Feedback.FALSE_ALARM)),
        )
        .order_by("-pages", "component__name")
    )
    report = []
    for row in rows[:50]:
        judged = row["real"] + row["false"]
        report.append(
            {
                "component_id": row["component_id"],
                "component": row["component__name"],
                "pages": row["pages"],
                "per_week": round(row["pages"] / weeks, 2),
                "real": row["real"],
                "false_alarms": row["false"],
                "share_real": round(row["real"] / judged, 3) if judged else None,
            }
        )
    return report


def status_counts(*, actor: Actor) -> dict[str, int]:
    counts = dict.fromkeys(SignalStatus.values, 0)
    counts.update(
        dict(AnomalySignal.objects.visible_to(actor).order_by().values_list("status").annotate(n=Count("id")))
    )
    return counts


def signal_timeline(*, actor: Actor, signal: AnomalySignal) -> QuerySet[AuditLogEntry]:
    """What happened to a signal, oldest first, from the audit log."""
    return (
        AuditLogEntry.objects.visible_to(actor)
        .filter(object_type="anomalies.anomalysignal", object_id=str(signal.pk))
        .order_by("created_at", "id")
    )


def signal_series(*, actor: Actor, signal: AnomalySignal, points: int = 240) -> dict[str, Any]:
    """The signal's metric around it, for the chart: timestamps and values (the band is drawn from the row)."""
    start = signal.first_seen_at - timedelta(hours=1)
    end = max(signal.last_seen_at, signal.resolved_at or signal.last_seen_at) + timedelta(minutes=30)
    rows = (
        list(
            SystemHealthEvent.objects.visible_to(actor)
            .filter(component_id=signal.component_id, window_start__gte=start, window_start__lt=end)
            .exclude(source="selftest")
            .exclude(**{f"{signal.metric}__isnull": True})
            .order_by("window_start")
            .values_list("window_start", signal.metric)[:5000]
        )
        if signal.metric in METRIC_FIELDS
        else []
    )
    step = max(1, len(rows) // points)
    rows = rows[::step]
    series = [{"name": signal.metric, "values": [r[1] for r in rows]}]
    if signal.band_low is not None and signal.band_high is not None:
        series.append({"name": "normal band (top)", "values": [signal.band_high] * len(rows)})
        series.append({"name": "normal band (bottom)", "values": [max(signal.band_low, 0)] * len(rows)})
    return {
        "timestamps": [r[0].timestamp() for r in rows],
        "series": series,
        "start": start.timestamp(),
        "end": end.timestamp(),
    }


def open_signal_counts(*, actor: Actor) -> dict[str, int]:
    counts = dict.fromkeys(Severity.values, 0)
    rows = (
        AnomalySignal.objects.visible_to(actor)
        .exclude(status=SignalStatus.RESOLVED)
        .order_by()
        .values_list("severity")
        .annotate(n=Count("id"))
    )
    counts.update(dict(rows))
    return counts


def signal_statistics(*, actor: Actor, window: timedelta, now: datetime | None = None) -> dict[str, Any]:
    """The original design's anomaly statistics: counts by status, severity and kind; time to resolve."""
    now = now or timezone.now()
    recent = AnomalySignal.objects.visible_to(actor).filter(first_seen_at__gte=now - window)

    def counts(field: str) -> dict[str, int]:
        return dict(recent.order_by().values_list(field).annotate(n=Count("id")))

    resolved = recent.filter(status=SignalStatus.RESOLVED, resolved_at__isnull=False).aggregate(
        mean=Avg(F("resolved_at") - F("first_seen_at"))
    )
    return {
        "window_seconds": int(window.total_seconds()),
        "total": recent.count(),
        "open": AnomalySignal.objects.visible_to(actor).exclude(status=SignalStatus.RESOLVED).count(),
        "by_status": counts("status"),
        "by_severity": counts("severity"),
        "by_kind": counts("kind"),
        "silenced": recent.filter(silenced=True).count(),
        "symptoms": recent.filter(cause__isnull=False).count(),
        "mean_time_to_resolve_s": resolved["mean"].total_seconds() if resolved["mean"] else None,
    }


def silence_list(*, actor: Actor, active_at: datetime | None = None) -> QuerySet[Silence]:
    queryset = Silence.objects.visible_to(actor).select_related("component")
    if active_at is not None:
        queryset = queryset.filter(starts_at__lte=active_at, ends_at__gt=active_at)
    return queryset


def detection_settings_list(*, actor: Actor) -> QuerySet[DetectionSettings]:
    return DetectionSettings.objects.visible_to(actor).select_related("component")


def detection_settings_for(*, actor: Actor, component: Any) -> DetectionSettings | None:
    return detection_settings_list(actor=actor).filter(component=component).first()


# --- A threshold backtested on a component's own history -------------------------------------------------

CANDIDATES = (3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0)
BACKTEST_EVENTS = 2880  # a day of 30 s windows, 8 hours of 10 s ones: bounded work on the request thread
NEAR = timedelta(minutes=5)  # a page this close to a marked incident's opening is a page for it


@dataclass
class Candidate:
    threshold: float
    pages: list[datetime] = field(default_factory=list)
    real_paged: int = 0
    false_paged: int = 0
    current: bool = False
    suggested: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "pages": len(self.pages),
            "first_pages": [p.isoformat() for p in self.pages[:5]],
            "real_paged": self.real_paged,
            "false_paged": self.false_paged,
            "current": self.current,
            "suggested": self.suggested,
        }


@dataclass
class Backtest:
    events: int
    since: datetime | None
    real: int
    false: int
    candidates: list[Candidate]


def _events(actor: Actor, component: Component) -> list[dict[str, Any]]:
    rows: QuerySet[SystemHealthEvent, dict[str, Any]] = (
        SystemHealthEvent.objects.visible_to(actor)
        .filter(component=component)
        .exclude(source="selftest")
        .order_by("-window_start", "-id")
        .values("window_start", *[w.metric for w in rules.WATCHED])
    )
    return list(rows[:BACKTEST_EVENTS])[::-1]


def _pages(events: list[dict[str, Any]], component: Component, threshold: float) -> list[datetime]:
    """Onsets of the detector's incidents over every watched metric, merged as incidents are (one page per
    fault within ``CORE314_INCIDENT_WINDOW``)."""
    overrides: DetectionSettings | None = getattr(component, "detection_settings", None)
    values = {name: getattr(overrides, name) for name in decision.OVERRIDABLE} if overrides is not None else {}
    values["threshold"] = threshold
    bounds_of = thresholds.thresholds_for(component.type, component.thresholds)
    onsets: list[float] = []
    for watched in rules.WATCHED:
        series = [(e["window_start"].timestamp(), e[watched.metric]) for e in events if e[watched.metric] is not None]
        if len(series) < 30:
            continue
        config = decision.config_for(watched=watched, overrides=values, bounds=bounds_of.get(watched.metric))
        step = Detector(config).step
        for stamp, value in series:
            answer = step(stamp, float(value))
            if answer is not None and answer[3]:  # opened
                onsets.append(stamp)
    window = settings.CORE314_INCIDENT_WINDOW
    pages: list[float] = []
    for stamp in sorted(onsets):
        if not pages or stamp - pages[-1] > window:
            pages.append(stamp)
    return [datetime.fromtimestamp(p, tz=UTC) for p in pages]


def threshold_backtest(*, actor: Actor, component: Component) -> Backtest:
    """Each candidate threshold replayed on the component's newest events: pages sent, marked incidents
    paged. The suggestion is the highest threshold that still pages every incident marked real (none
    without a real one marked)."""
    events = _events(actor, component)
    marked = list(
        Incident.objects.visible_to(actor)
        .filter(component=component, feedback__in=Feedback.values)
        .values_list("opened_at", "feedback")
    )
    if events:
        marked = [(at, verdict) for at, verdict in marked if at >= events[0]["window_start"]]
    overrides: DetectionSettings | None = getattr(component, "detection_settings", None)
    current = overrides.threshold if overrides is not None and overrides.threshold else 5.0
    candidates = []
    for threshold in sorted({*CANDIDATES, current}):
        pages = _pages(events, component, threshold)
        paged = [
            verdict
            for at, verdict in marked
            if any(abs((page - at).total_seconds()) <= NEAR.total_seconds() for page in pages)
        ]
        candidates.append(
            Candidate(
                threshold=threshold,
                pages=pages,
                real_paged=paged.count(Feedback.REAL),
                false_paged=paged.count(Feedback.FALSE_ALARM),
                current=threshold == current,
            )
        )
    real = sum(1 for _, verdict in marked if verdict == Feedback.REAL)
    false = len(marked) - real
    keeping = [c for c in candidates if c.real_paged == real]
    if real and keeping:
        max(keeping, key=lambda c: c.threshold).suggested = True
    since = events[0]["window_start"] if events else None
    return Backtest(events=len(events), since=since, real=real, false=false, candidates=candidates)
