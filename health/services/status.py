"""A component's status: re-decided from its latest events with flap damping, stale when it stops
reporting, and when it last reported."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models.functions import Greatest

from core314.changes import record_change
from health import thresholds
from health.models import Component, ComponentStatus, SystemHealthEvent


def component_status_refresh(*, component_ids: Iterable[int], now: datetime) -> list[Component]:
    """Re-decide each component's status from its latest events with flap damping; audit each change."""
    changed = []
    for component in Component.objects.select_for_update().filter(pk__in=list(component_ids)).order_by("pk"):
        recent = list(
            SystemHealthEvent.objects.filter(component=component)
            .exclude(source="selftest")
            .order_by("-window_start", "-id")
            .values_list("status", "metadata")[: max(component.flap_window_m, component.flap_recover_k)]
        )
        if not recent:
            continue
        statuses = [status for status, _ in recent]
        new = thresholds.damp(
            component.status,
            statuses,
            bad_n=component.flap_bad_n,
            window_m=component.flap_window_m,
            recover_k=component.flap_recover_k,
        )
        if new != component.status:
            reason = (recent[0][1] or {}).get("status_reason", "") if isinstance(recent[0][1], dict) else ""
            _set_status(component, new, reason or f"last windows: {', '.join(statuses)}", now)
            changed.append(component)
    return changed


def _set_status(component: Component, new: str, reason: str, now: datetime) -> None:
    before = component.status
    component.status = new
    component.status_reason = reason[:300]
    component.status_changed_at = now
    component.save(update_fields=["status", "status_reason", "status_changed_at"])
    record_change(
        actor=None,
        system_label="monitor",
        action="component.status_change",
        target=component,
        before={"status": before},
        after={"status": new},
        reason=reason,
        event="component.status_changed",
        data={"status": new, "previous": before},
    )


def components_mark_stale(*, now: datetime) -> list[Component]:
    """A component that stops reporting becomes stale after its silence limit instead of staying healthy."""
    stale = []
    candidates = Component.objects.select_for_update(skip_locked=True).exclude(
        status__in=[ComponentStatus.STALE, ComponentStatus.UNKNOWN]
    )
    for component in candidates:
        silent_since = component.last_report_at or component.status_changed_at or component.created_at
        if now - silent_since > timedelta(seconds=component.stale_after_s):
            _set_status(component, ComponentStatus.STALE, f"no report for {component.stale_after_s} s", now)
            stale.append(component)
    return stale


def components_mark_reported(*, component_ids: Iterable[int], at: datetime) -> None:
    """These components reported at ``at`` (pushed or probed): what staleness is measured from."""
    Component.objects.filter(pk__in=list(component_ids)).update(last_report_at=Greatest("last_report_at", at))
