"""Thin Celery tasks: ids in, one service call. Safe to run twice or late."""

from __future__ import annotations

from celery import shared_task

from anomalies import services


@shared_task(name="anomalies.detect", soft_time_limit=30, time_limit=60, ignore_result=True, acks_late=True)
def detect(component_id: int) -> int:
    return len(services.signals_detect(component_id=component_id))


@shared_task(name="anomalies.sweep", soft_time_limit=120, time_limit=180, ignore_result=True)
def sweep() -> int:
    return services.detection_sweep()


@shared_task(name="anomalies.root_cause", soft_time_limit=60, time_limit=90, ignore_result=True)
def root_cause(signal_id: int) -> None:
    services.signal_root_cause(signal_id=signal_id)
