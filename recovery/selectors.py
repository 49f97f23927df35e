from __future__ import annotations

from django.db.models import Count, QuerySet

from core314.tenancy import Actor
from recovery.models import ActionStatus, CircuitBreaker, RecoveryAction


def action_list(*, actor: Actor, status: str = "", action_type: str = "") -> QuerySet[RecoveryAction]:
    queryset = RecoveryAction.objects.visible_to(actor).select_related("component")
    if status:
        queryset = queryset.filter(status=status)
    if action_type:
        queryset = queryset.filter(action_type=action_type)
    return queryset


def action_status_counts(*, actor: Actor) -> dict[str, int]:
    counts = dict.fromkeys(ActionStatus.values, 0)
    rows = RecoveryAction.objects.visible_to(actor).order_by().values_list("status").annotate(n=Count("id"))
    counts.update(dict(rows))
    return counts


def breaker_list(*, actor: Actor) -> QuerySet[CircuitBreaker]:
    return CircuitBreaker.objects.visible_to(actor).select_related("component").order_by("component__name")
