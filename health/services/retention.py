"""Retention: events and execution records past the retention period deleted in short batches."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core314.changes import record_change
from core314.models import IdempotencyKey

logger = logging.getLogger(__name__)


def health_retention_purge(
    *, now: datetime | None = None, days: int | None = None, batch: int = 5000
) -> dict[str, int]:
    """Delete events and execution records older than ``days``, a batch per transaction (short locks)."""
    now = now or timezone.now()
    days = days if days is not None else settings.CORE314_RETENTION_DAYS
    cutoff = now - timedelta(days=days)
    removed = {}
    for table, column in (("system_health_events", "window_start"), ("execution_log", "started_at")):
        total = 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE id IN "  # noqa: S608 -- table and column are constants above
                    f"(SELECT id FROM {table} WHERE {column} < %s LIMIT %s FOR UPDATE SKIP LOCKED)",
                    [cutoff, batch],
                )
                total += cursor.rowcount
                if cursor.rowcount < batch:
                    break
        removed[table] = total
    removed["idempotency_keys"] = IdempotencyKey.objects.filter(created_at__lt=now - timedelta(days=1)).delete()[0]
    with transaction.atomic():
        record_change(
            actor=None,
            system_label="retention",
            action="health.retention_purge",
            after=removed | {"days": days},
            reason=f"older than {cutoff.isoformat()}",
        )
    logger.info("retention removed %s", removed)
    return removed
