"""Reads of the platform's own state: readiness, gauges for /metrics, the audit log."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, QuerySet

from core314.models import AuditLogEntry
from core314.tenancy import Actor


def audit_log_list(*, actor: Actor) -> QuerySet[AuditLogEntry]:
    return AuditLogEntry.objects.visible_to(actor).select_related("actor")


@dataclass
class ReadinessPart:
    name: str
    ok: bool
    detail: str
    latency_ms: float | None = None


@dataclass
class Readiness:
    parts: list[ReadinessPart] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(part.ok for part in self.parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "unavailable",
            "checks": {p.name: {"ok": p.ok, "detail": p.detail, "latency_ms": p.latency_ms} for p in self.parts},
        }


def _timed(name: str, check: Any) -> ReadinessPart:
    started = time.perf_counter()
    try:
        ok, detail = check()
    except Exception as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return ReadinessPart(name, ok, detail, round((time.perf_counter() - started) * 1000, 2))


def _check_database() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, "SELECT 1 ok"


def _check_redis() -> tuple[bool, str]:
    from core314.redis import get_redis

    get_redis().ping()
    return True, "PING ok"


def worker_heartbeats() -> dict[str, float]:
    """Seconds since each worker's last heartbeat."""
    from core314.celery_hooks import WORKER_HEARTBEAT_KEY
    from core314.redis import get_redis, key

    now = time.time()
    raw = get_redis().hgetall(key(WORKER_HEARTBEAT_KEY))
    return {name.decode(): now - float(value) for name, value in raw.items()}


def beat_age() -> float | None:
    from core314.beat import BEAT_TICK_KEY
    from core314.redis import get_redis, key

    raw = get_redis().get(key(BEAT_TICK_KEY))
    return None if raw is None else time.time() - float(raw)


def _check_worker() -> tuple[bool, str]:
    ages = worker_heartbeats()
    fresh = {name: age for name, age in ages.items() if age <= settings.CORE314_WORKER_HEARTBEAT_MAX_AGE}
    if not fresh:
        if ages:
            return False, f"no worker heartbeat in the last {settings.CORE314_WORKER_HEARTBEAT_MAX_AGE:.0f} s"
        return False, "no Celery worker has reported"
    return True, f"{len(fresh)} worker(s) alive"


def _check_beat() -> tuple[bool, str]:
    age = beat_age()
    if age is None:
        return False, "Celery beat has never ticked"
    if age > settings.CORE314_BEAT_MAX_AGE:
        return False, f"Celery beat last ticked {age:.0f} s ago"
    return True, f"last tick {age:.1f} s ago"


def _check_selftest() -> tuple[bool, str]:
    """The dead man's switch: the scheduled self-tests ran within three intervals."""
    from selftest.selectors import deadman

    state = deadman()
    return state["ok"], state["detail"]


def platform_readiness() -> Readiness:
    checks = [
        ("database", _check_database),
        ("redis", _check_redis),
        ("worker", _check_worker),
        ("beat", _check_beat),
        ("selftest", _check_selftest),
    ]
    return Readiness([_timed(name, check) for name, check in checks])


@dataclass
class PlatformGauges:
    open_signals_by_severity: dict[str, int]
    actions_by_status: dict[str, int]
    queue_depth: int
    workers_alive: int
    beat_age: float


def queue_depth() -> int:
    from core314.redis import get_redis

    # Celery's Redis transport keeps a queue as a list, named with the transport's global key prefix.
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    return int(get_redis().llen(f"{settings.REDIS_PREFIX}:{queue}"))


def platform_gauges() -> PlatformGauges:
    """Platform-wide figures for /metrics (a system read: the scrape is the operator's, not a tenant's)."""
    from anomalies.models import AnomalySignal, Severity, SignalStatus
    from recovery.models import ActionStatus, RecoveryAction

    open_signals = dict.fromkeys(Severity.values, 0)
    rows = (
        AnomalySignal.objects.exclude(status=SignalStatus.RESOLVED)
        .order_by()
        .values_list("severity")
        .annotate(n=Count("id"))
    )
    open_signals.update(dict(rows))
    actions = dict.fromkeys(ActionStatus.values, 0)
    actions.update(dict(RecoveryAction.objects.order_by().values_list("status").annotate(n=Count("id"))))
    ages = worker_heartbeats()
    age = beat_age()
    return PlatformGauges(
        open_signals_by_severity=open_signals,
        actions_by_status=actions,
        queue_depth=queue_depth(),
        workers_alive=sum(1 for a in ages.values() if a <= settings.CORE314_WORKER_HEARTBEAT_MAX_AGE),
        beat_age=-1.0 if age is None else age,
    )
