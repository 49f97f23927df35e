from typing import Any

from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    name = "anomalies"
    verbose_name = "Anomaly detection"

    def ready(self) -> None:
        from health.signals import health_events_committed

        health_events_committed.connect(_enqueue_detection, dispatch_uid="anomalies.enqueue_detection")


def _enqueue_detection(sender: Any, component_ids: list[int], **kwargs: Any) -> None:
    """New events committed: detect on each affected component (a task each, not a scan of everything)."""
    from anomalies.tasks import detect

    for component_id in component_ids:
        detect.delay(component_id)
