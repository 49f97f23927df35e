from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, F, QuerySet
from django.utils import timezone

from anomalies.models import AnomalySignal, Severity, SignalStatus, Silence
from core314.tenancy import Actor


def signal_list(*, actor: Actor, status: str = "", severity: str = "") -> QuerySet[AnomalySignal]:
    queryset = AnomalySignal.objects.visible_to(actor).select_related("component")
    if status:
        queryset = queryset.filter(status=status)
    if severity:
        queryset = queryset.filter(severity=severity)
    return queryset


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
