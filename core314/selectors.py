"""Reads of the platform's own state: readiness, gauges for /metrics, the audit log."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from core314.models import ApiToken, AuditLogEntry, ServiceAccount
from core314.tenancy import Actor


def audit_log_list(*, actor: Actor) -> QuerySet[AuditLogEntry]:
    return AuditLogEntry.objects.visible_to(actor).select_related("actor")


def service_account_list(*, actor: Actor) -> QuerySet[ServiceAccount]:
    return ServiceAccount.objects.visible_to(actor).select_related("owner")


def api_token_list(*, actor: Actor) -> QuerySet[ApiToken]:
    return ApiToken.objects.visible_to(actor).select_related("service_account")


def check_database() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, "SELECT 1 ok"


def check_redis() -> tuple[bool, str]:
    from core314.redis import get_redis

    get_redis().ping()
    return True, "PING ok"


def worker_heartbeats() -> dict[str, float]:
    """Seconds since each worker's last heartbeat."""
    from core314.celery_hooks import WORKER_HEARTBEAT_KEY
    from core314.redis import get_redis, key, text

    now = time.time()
    raw = get_redis().hgetall(key(WORKER_HEARTBEAT_KEY))
    return {text(name): now - float(value) for name, value in raw.items()}


def beat_age() -> float | None:
    from core314.beat import BEAT_TICK_KEY
    from core314.redis import get_redis, key

    raw = get_redis().get(key(BEAT_TICK_KEY))
    return None if raw is None else time.time() - float(raw)


def check_worker() -> tuple[bool, str]:
    ages = worker_heartbeats()
    fresh = {name: age for name, age in ages.items() if age <= settings.CORE314_WORKER_HEARTBEAT_MAX_AGE}
    if not fresh:
        if ages:
            return False, f"no worker heartbeat in the last {settings.CORE314_WORKER_HEARTBEAT_MAX_AGE:.0f} s"
        return False, "no Celery worker has reported"
    return True, f"{len(fresh)} worker(s) alive"


def check_beat() -> tuple[bool, str]:
    age = beat_age()
    if age is None:
        return False, "Celery beat has never ticked"
    if age > settings.CORE314_BEAT_MAX_AGE:
        return False, f"Celery beat last ticked {age:.0f} s ago"
    return True, f"last tick {age:.1f} s ago"


def queue_depth() -> int:
    from core314.redis import get_redis

    # Celery's Redis transport keeps a queue as a list, named with the transport's global key prefix.
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    return int(get_redis().llen(f"{settings.REDIS_PREFIX}:{queue}"))
