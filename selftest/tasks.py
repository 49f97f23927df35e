"""Thin Celery tasks: ids in, one service call."""

from __future__ import annotations

from celery import shared_task

from selftest import services


@shared_task(name="selftest.scheduled", soft_time_limit=240, time_limit=300, ignore_result=True)
def scheduled() -> int | None:
    run = services.run_scheduled()
    return run.pk if run else None


@shared_task(name="selftest.execute", soft_time_limit=240, time_limit=300, ignore_result=True)
def execute(run_id: int) -> str:
    run = services.run_execute(run_id=run_id)
    return run.status if run else "gone"
