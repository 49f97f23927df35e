from __future__ import annotations

from django.db.models import Count, QuerySet

from anomalies.models import AnomalySignal, Severity, SignalStatus
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
