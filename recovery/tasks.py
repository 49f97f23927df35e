"""Thin Celery tasks: ids in, one service call. Safe to run twice or late (an action never executes twice)."""

from __future__ import annotations

from celery import shared_task

from recovery import services


@shared_task(name="recovery.heal", soft_time_limit=60, time_limit=90, ignore_result=True, acks_late=True)
def heal(signal_id: int) -> str:
    decision = services.heal_signal(signal_id=signal_id)
    return decision.outcome if decision else "gone"


# acks_late + reject_on_worker_lost: a worker that dies mid-way gets the task redelivered; the service then
# finds the action already claimed and ends it as failed (outcome unknown) instead of running it again.
@shared_task(
    name="recovery.execute",
    soft_time_limit=150,
    time_limit=180,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
)
def execute(action_id: int) -> str:
    action = services.action_execute(action_id=action_id)
    return action.status if action else "gone"


@shared_task(name="recovery.supervise", soft_time_limit=20, time_limit=30, ignore_result=True)
def supervise() -> int:
    return services.supervise_processes()


@shared_task(name="recovery.cycle", soft_time_limit=120, time_limit=180, ignore_result=True)
def cycle() -> dict[str, int]:
    return services.healing_cycle()
