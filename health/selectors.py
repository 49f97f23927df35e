"""Reads for the System Monitor, the API and exports. Every one starts from visible_to(actor)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Avg, Count, F, Q, QuerySet, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from core314.models import AuditLogEntry
from core314.tenancy import Actor
from health.models import Component, ComponentStatus, ExecutionRecord, Probe, SystemHealthEvent


def component_list(*, actor: Actor) -> QuerySet[Component]:
    """Components by name; filters: ``health.filters.ComponentFilter``."""
    return Component.objects.visible_to(actor).order_by("name")


def component_list_with_dependencies(*, actor: Actor) -> QuerySet[Component]:
    return component_list(actor=actor).prefetch_related("depends_on")


def probe_list(*, actor: Actor) -> QuerySet[Probe]:
    return Probe.objects.visible_to(actor).select_related("component")


def health_event_list(*, actor: Actor, component_id: int | None = None) -> QuerySet[SystemHealthEvent]:
    """Health events, newest first; the list's filters are ``health.filters.HealthEventFilter``."""
    queryset = SystemHealthEvent.objects.visible_to(actor).select_related("component")
    if component_id:
        queryset = queryset.filter(component_id=component_id)
    return queryset.order_by("-window_start", "-id")


def execution_record_list(*, actor: Actor) -> QuerySet[ExecutionRecord]:
    return ExecutionRecord.objects.visible_to(actor).select_related("component")


def latest_health_per_component(*, actor: Actor) -> dict[int, SystemHealthEvent]:
    """The newest event of each visible component (one index probe per component)."""
    events = (
        SystemHealthEvent.objects.visible_to(actor)
        .exclude(source="selftest")
        .order_by("component_id", "-window_start", "-id")
        .distinct("component_id")
    )
    return {e.component_id: e for e in events}


@dataclass
class ComponentHealth:
    component: Component
    latest: SystemHealthEvent | None


@dataclass
class HealthSummary:
    window: timedelta
    components: list[ComponentHealth]
    by_status: dict[str, int]
    avg_latency_p95_ms: float | None
    error_rate: float | None
    availability: float | None
    events: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_seconds": int(self.window.total_seconds()),
            "components_by_status": self.by_status,
            "avg_latency_p95_ms": self.avg_latency_p95_ms,
            "error_rate": self.error_rate,
            "availability": self.availability,
            "events": self.events,
            "components": [
                {
                    "id": c.component.pk,
                    "name": c.component.name,
                    "type": c.component.type,
                    "status": c.component.status,
                    "latency_p95_ms": c.latest.latency_p95_ms if c.latest else None,
                    "error_rate": c.latest.error_rate if c.latest else None,
                    "availability": c.latest.availability if c.latest else None,
                    "last_report_at": c.component.last_report_at,
                }
                for c in self.components
            ],
        }


def health_summary(
    *, actor: Actor, window: timedelta = timedelta(hours=1), now: datetime | None = None
) -> HealthSummary:
    """The original design's health summary: status per component and totals over ``window``."""
    now = now or timezone.now()
    components = list(Component.objects.visible_to(actor))
    latest = latest_health_per_component(actor=actor)
    by_status = dict.fromkeys(ComponentStatus.values, 0)
    for component in components:
        by_status[component.status] += 1
    totals = (
        SystemHealthEvent.objects.visible_to(actor)
        .filter(window_start__gte=now - window)
        .exclude(source="selftest")
        .aggregate(
            p95=Avg("latency_p95_ms"),
            # Error rate weighted by traffic, so a quiet component's one failed call does not dominate.
            weighted_errors=Sum(F("error_rate") * Greatest("request_count", 1), filter=Q(error_rate__isnull=False)),
            weight=Sum(Greatest("request_count", 1), filter=Q(error_rate__isnull=False)),
            availability=Avg("availability"),
            n=Count("id"),
        )
    )
    error_rate = totals["weighted_errors"] / totals["weight"] if totals["weight"] else None
    return HealthSummary(
        window=window,
        components=[ComponentHealth(c, latest.get(c.pk)) for c in components],
        by_status=by_status,
        avg_latency_p95_ms=totals["p95"],
        error_rate=error_rate,
        availability=totals["availability"],
        events=totals["n"],
    )


def availability_over(*, actor: Actor, component_id: int, start: datetime, end: datetime) -> float | None:
    """Time-weighted availability of one component over [start, end)."""
    if not component_list(actor=actor).filter(pk=component_id).exists():
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT sum(availability * extract(epoch FROM window_end - window_start))
                      / nullif(sum(extract(epoch FROM window_end - window_start)), 0)
                 FROM system_health_events
                WHERE component_id = %s AND window_start >= %s AND window_start < %s
                  AND availability IS NOT NULL AND source <> 'selftest'""",
            [component_id, start, end],
        )
        value = cursor.fetchone()[0]
    return float(value) if value is not None else None


@dataclass
class StatusChange:
    at: datetime
    before: str
    after: str
    reason: str


def status_history(*, actor: Actor, component: Component, limit: int = 50) -> list[StatusChange]:
    """Status changes of one component, newest first, from the audit log the monitor writes."""
    entries = (
        AuditLogEntry.objects.visible_to(actor)
        .filter(object_type="health.component", object_id=str(component.pk), action="component.status_change")
        .order_by("-created_at")[:limit]
    )
    return [
        StatusChange(e.created_at, (e.before or {}).get("status", ""), (e.after or {}).get("status", ""), e.reason)
        for e in entries
    ]


@dataclass
class ChartData:
    timestamps: list[float] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)


def chart_series(
    *, actor: Actor, start: datetime, end: datetime, component_ids: list[int] | None = None, points: int = 120
) -> ChartData:
    """p95 latency and error rate per component, averaged into at most ``points`` buckets (in SQL)."""
    visible = component_list(actor=actor)
    if component_ids is not None:
        visible = visible.filter(pk__in=component_ids)
    components = {c.pk: c.name for c in visible.order_by("name")[:8]}
    if not components:
        return ChartData()
    bucket = max(10, int((end - start).total_seconds() // points))
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT component_id,
                      extract(epoch FROM date_bin(make_interval(secs => %s), window_start, %s)) AS t,
                      avg(latency_p95_ms), avg(error_rate)
                 FROM system_health_events
                WHERE component_id = ANY(%s) AND window_start >= %s AND window_start < %s AND source <> 'selftest'
                GROUP BY 1, 2 ORDER BY 2""",
            [bucket, start, list(components), start, end],
        )
        rows = cursor.fetchall()
    times = sorted({float(t) for _, t, _, _ in rows})
    index = {t: i for i, t in enumerate(times)}
    series: dict[int, dict[str, Any]] = {
        cid: {"name": name, "p95": [None] * len(times), "error_rate": [None] * len(times)}
        for cid, name in components.items()
    }
    for cid, t, p95, err in rows:
        series[cid]["p95"][index[float(t)]] = round(p95, 2) if p95 is not None else None
        series[cid]["error_rate"][index[float(t)]] = round(err * 100, 3) if err is not None else None
    # A component with no point in the range would only clutter the legend.
    drawn = [s for s in series.values() if any(v is not None for v in s["p95"] + s["error_rate"])]
    return ChartData(timestamps=times, series=drawn)
