"""Platform-wide reads across the whole loop: readiness for /readyz and the gauges for /metrics.

These look at every step (the self-tests' dead man's switch, open signals, actions), so they sit above the
loop's apps, beside the URLs and the demo; the kernel's ``core314.selectors`` reads only the platform's own
parts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count

from core314.selectors import (
    beat_age,
    check_beat,
    check_database,
    check_redis,
    check_worker,
    queue_depth,
    worker_heartbeats,
)


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


def _check_selftest() -> tuple[bool, str]:
    """The dead man's switch: the scheduled self-tests ran within three intervals."""
    from selftest.selectors import deadman

    state = deadman()
    return state["ok"], state["detail"]


def platform_readiness() -> Readiness:
    checks = [
        ("database", check_database),
        ("redis", check_redis),
        ("worker", check_worker),
        ("beat", check_beat),
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
