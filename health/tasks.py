"""Thin Celery tasks: each calls one service. Safe to run twice or late."""

from __future__ import annotations

from celery import shared_task

from health import services


@shared_task(name="health.run_due_probes", soft_time_limit=60, time_limit=90, ignore_result=True)
def run_due_probes() -> int:
    return services.probes_run_due()


@shared_task(name="health.rollup", soft_time_limit=60, time_limit=90, ignore_result=True)
def rollup() -> int:
    return services.health_rollup()


@shared_task(name="health.retention", soft_time_limit=3000, time_limit=3600, ignore_result=True)
def retention() -> dict[str, int]:
    return services.health_retention_purge()
