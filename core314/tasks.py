from __future__ import annotations

import time

from celery import shared_task

from core314.redis import get_redis, key

SCHEDULED_TASK_KEY = "heartbeat:scheduled"


@shared_task(name="core314.platform_heartbeat", soft_time_limit=5, time_limit=10, ignore_result=True)
def platform_heartbeat() -> None:
    """Sent by beat, run by a worker: proves the beat → broker → worker path end to end."""
    get_redis().set(key(SCHEDULED_TASK_KEY), time.time(), ex=3600)
