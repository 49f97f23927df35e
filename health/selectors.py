from __future__ import annotations

from django.db.models import Count, QuerySet

from core314.tenancy import Actor
from health.models import Component, HealthStatus, SystemHealthEvent


def component_list(*, actor: Actor) -> QuerySet[Component]:
    return Component.objects.visible_to(actor)


def health_event_list(
    *, actor: Actor, status: str = "", component_id: int | None = None
) -> QuerySet[SystemHealthEvent]:
    queryset = SystemHealthEvent.objects.visible_to(actor).select_related("component")
    if status:
        queryset = queryset.filter(status=status)
    if component_id:
        queryset = queryset.filter(component_id=component_id)
    return queryset


def health_event_status_counts(*, actor: Actor) -> dict[str, int]:
    counts = dict.fromkeys(HealthStatus.values, 0)
    rows = (
        SystemHealthEvent.objects.visible_to(actor).order_by().values_list("status").annotate(n=Count("id"))
    )
    counts.update(dict(rows))
    return counts
