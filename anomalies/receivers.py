"""What detection does when other steps of the loop announce something (connected in ``apps.py``)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from health.signals import health_events_committed


@receiver(health_events_committed, dispatch_uid="anomalies.enqueue_detection")
def enqueue_detection(sender: Any, component_ids: list[int], **kwargs: Any) -> None:
    """New events committed: detect on each affected component (a task each, not a scan of everything)."""
    from anomalies.tasks import detect

    for component_id in component_ids:
        detect.delay(component_id)
