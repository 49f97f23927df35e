"""Beat scheduler that records its own tick, so /readyz can tell a stalled beat from an idle one."""

from __future__ import annotations

import logging
import time
from typing import Any

from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

BEAT_TICK_KEY = "heartbeat:beat"


class TickingDatabaseScheduler(DatabaseScheduler):
    _last_mark = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.time()
        if now - self._last_mark >= 1.0:
            self._last_mark = now
            try:
                from core314.redis import get_redis, key

                get_redis().set(key(BEAT_TICK_KEY), now, ex=3600)
            except Exception:
                logger.warning("could not record the beat tick", exc_info=True)
        return super().tick(*args, **kwargs)
