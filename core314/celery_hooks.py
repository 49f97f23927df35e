"""Celery signal handlers: the worker heartbeat that /readyz reads, and task timings for /metrics."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import signals

logger = logging.getLogger(__name__)

WORKER_HEARTBEAT_KEY = "heartbeat:worker"
_task_started: dict[str, float] = {}


@signals.heartbeat_sent.connect
def record_worker_heartbeat(sender: Any, **kwargs: Any) -> None:
    from core314.redis import get_redis, key

    try:
        hostname = getattr(getattr(sender, "eventer", None), "hostname", None) or "worker"
        get_redis().hset(key(WORKER_HEARTBEAT_KEY), hostname, time.time())
    except Exception:
        logger.warning("could not record the worker heartbeat", exc_info=True)


@signals.worker_ready.connect
def record_worker_ready(sender: Any, **kwargs: Any) -> None:
    from core314.redis import get_redis, key

    try:
        get_redis().hset(key(WORKER_HEARTBEAT_KEY), getattr(sender, "hostname", "worker"), time.time())
    except Exception:
        logger.warning("could not record the worker start", exc_info=True)


@signals.worker_shutdown.connect
def forget_worker(sender: Any, **kwargs: Any) -> None:
    from core314.redis import get_redis, key

    try:
        get_redis().hdel(key(WORKER_HEARTBEAT_KEY), getattr(sender, "hostname", "worker"))
    except Exception:
        logger.warning("could not remove the worker heartbeat", exc_info=True)


@signals.task_prerun.connect
def task_started(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _task_started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def task_finished(task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    started = _task_started.pop(task_id or "", None)
    if started is None or task is None:
        return
    from core314 import metrics

    metrics.observe_task(task.name, state or "UNKNOWN", time.perf_counter() - started)
