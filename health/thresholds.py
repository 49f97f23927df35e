"""Status from thresholds, and flap damping. Pure Python: no Django, no database.

A threshold is ``[degraded, unhealthy, critical]``: the value at which a metric reaches each level.
For "higher is worse" metrics (latency, error rate, utilisation) a value at or above the bound reaches the
level; for availability, lower is worse and a value at or below the bound reaches it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

LEVELS = ("healthy", "degraded", "unhealthy", "critical")
RANK = {name: i for i, name in enumerate(LEVELS)}
LOWER_IS_WORSE = {"availability"}

_COMMON = {
    "error_rate": [0.02, 0.10, 0.25],
    "availability": [0.995, 0.95, 0.80],
    "cpu_percent": [80.0, 90.0, 97.0],
    "memory_percent": [80.0, 90.0, 97.0],
    "disk_percent": [80.0, 90.0, 95.0],
}

DEFAULT_THRESHOLDS: dict[str, dict[str, list[float]]] = {
    "api": {**_COMMON, "latency_p95_ms": [500.0, 1500.0, 5000.0]},
    "edge_function": {**_COMMON, "latency_p95_ms": [800.0, 2500.0, 8000.0]},
    "database": {**_COMMON, "latency_p95_ms": [100.0, 500.0, 2000.0]},
    "cache": {**_COMMON, "latency_p95_ms": [20.0, 100.0, 500.0]},
    "queue": {**_COMMON, "latency_p95_ms": [1000.0, 5000.0, 20000.0], "queue_depth": [1000, 10000, 100000]},
    "worker": {**_COMMON, "latency_p95_ms": [5000.0, 20000.0, 60000.0], "queue_depth": [100, 1000, 10000]},
    "integration": {**_COMMON, "latency_p95_ms": [1500.0, 5000.0, 15000.0]},
    "external": {**_COMMON, "latency_p95_ms": [1500.0, 5000.0, 15000.0]},
}

DEFAULT_DAMPING = {"bad_n": 2, "window_m": 3, "recover_k": 2}


def thresholds_for(component_type: str, overrides: Mapping[str, Sequence[float]] | None) -> dict[str, list[float]]:
    merged = {k: list(v) for k, v in DEFAULT_THRESHOLDS.get(component_type, DEFAULT_THRESHOLDS["api"]).items()}
    for metric, bounds in (overrides or {}).items():
        merged[metric] = [float(b) for b in bounds]
    return merged


def validate_thresholds(overrides: Mapping[str, object]) -> list[str]:
    """Problems with an operator's threshold overrides, as messages; empty when they are usable."""
    problems = []
    known = set(DEFAULT_THRESHOLDS["queue"]) | {"latency_p95_ms"}
    for metric, bounds in overrides.items():
        if metric not in known:
            problems.append(f"{metric}: unknown metric (one of {', '.join(sorted(known))})")
            continue
        if (
            not isinstance(bounds, list | tuple)
            or len(bounds) != 3
            or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
        ):
            problems.append(f"{metric}: give three numbers [degraded, unhealthy, critical]")
            continue
        ordered = sorted(bounds, reverse=metric in LOWER_IS_WORSE)
        if list(bounds) != ordered:
            direction = "descending" if metric in LOWER_IS_WORSE else "ascending"
            problems.append(f"{metric}: the three bounds must be {direction}")
    return problems


def level_of(metric: str, value: float | None, bounds: Sequence[float]) -> int:
    if value is None:
        return 0
    level = 0
    for i, bound in enumerate(bounds, start=1):
        reached = value <= bound if metric in LOWER_IS_WORSE else value >= bound
        if reached:
            level = i
    return level


def evaluate(metrics: Mapping[str, float | None], thresholds: Mapping[str, Sequence[float]]) -> tuple[str, list[str]]:
    """The status the metrics reach, and which metrics put it there (e.g. ``["error_rate=0.31"]``)."""
    worst = 0
    reasons: list[tuple[int, str]] = []
    for metric, bounds in thresholds.items():
        level = level_of(metric, metrics.get(metric), bounds)
        if level:
            reasons.append((level, f"{metric}={metrics[metric]:g}"))
        worst = max(worst, level)
    return LEVELS[worst], [text for level, text in sorted(reasons, reverse=True) if level == worst]


def damp(current: str, recent: Sequence[str], *, bad_n: int, window_m: int, recover_k: int) -> str:
    """The component status after damping, from its current status and raw statuses newest first.

    It turns worse only when at least ``bad_n`` of the last ``window_m`` windows are at least that bad,
    and better only after ``recover_k`` windows in a row better than now. From ``unknown`` or ``stale``
    the newest window decides at once: there is no earlier status to protect.
    """
    if not recent:
        return current
    if current not in RANK:
        return recent[0]
    ranks = [RANK[s] for s in recent[:window_m]]
    now = RANK[current]
    for level in range(len(LEVELS) - 1, now, -1):
        if sum(1 for r in ranks if r >= level) >= bad_n:
            return LEVELS[level]
    last_k = [RANK[s] for s in recent[:recover_k]]
    if len(last_k) == recover_k and all(r < now for r in last_k):
        return LEVELS[max(last_k)]
    return current
