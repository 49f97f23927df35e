"""Which metrics are watched, and how a detector's decision becomes kind, severity, confidence and advice.

Pure Python. The derivations, so an operator can check them:

* **Severity** from how far past its threshold the metric went (``ratio = z / threshold``, at least 1 when a
  signal opens): ≥ 4 critical, ≥ 2 high, ≥ 1.3 medium, else low; then raised to match the health status
  of the event (critical → critical, unhealthy → high, degraded → medium), since a metric that crossed the
  operator's own thresholds is at least that serious.
* **Confidence** in 0.5..0.99: ``0.5 + 0.49 · (1 - e^(-1.5 · (ratio - 1)))``, plus 0.05 for each further
  anomalous window of the same incident, capped at 0.99. Just over the threshold is a coin toss made
  slightly better than even by the detector's band; far over it, or sustained, is near certain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LATENCY, ERRORS, RESOURCE, AVAILABILITY = (
    "latency_spike",
    "error_rate_increase",
    "resource_exhaustion",
    "availability_drop",
)
DROP, SURGE = "throughput_drop", "throughput_surge"
BREACH, NO_DATA = "threshold_breach", "no_data"


@dataclass(frozen=True)
class Watched:
    metric: str
    kind: str  # for throughput: decided by the sign of the deviation
    direction: str
    label: str
    unit: str
    limit: float | None = None  # resource metrics: the value that means exhausted
    # The smallest spread that counts, in the metric's unit: a probe answering in 20 ms instead of 0.5 ms is
    # statistically extreme and operationally nothing, and must not wake anyone.
    floor: float = 1e-6
    # Windows in a row before a signal opens. Error rates of short windows are count noise (one failed request
    # in twenty is 5 %): two windows in a row is evidence, one is not.
    min_duration: int = 1


WATCHED = [
    Watched("latency_p95_ms", LATENCY, "up", "p95 latency", "ms", floor=20.0),
    Watched("error_rate", ERRORS, "up", "error rate", "", floor=0.005, min_duration=2),
    Watched("availability", AVAILABILITY, "down", "availability", "", floor=0.01),
    Watched("throughput_rps", DROP, "both", "throughput", "req/s", floor=0.2),
    Watched("cpu_percent", RESOURCE, "up", "CPU", "%", limit=100.0, floor=2.0),
    Watched("memory_percent", RESOURCE, "up", "memory", "%", limit=100.0, floor=1.0),
    Watched("disk_percent", RESOURCE, "up", "disk", "%", limit=100.0, floor=1.0),
    Watched("queue_depth", RESOURCE, "up", "queue depth", "", floor=5.0),
]
BY_METRIC = {w.metric: w for w in WATCHED}
# A resource this close to its limit is anomalous whatever its history; a forecast this near is too.
RESOURCE_NEAR_LIMIT = 90.0
# Below this share of its limit a resource is not exhausted, however unusual its value.
RESOURCE_CALM = 0.5
EXHAUSTION_HORIZON_S = 3600.0

SEVERITY_FROM_STATUS = {"critical": "critical", "unhealthy": "high", "degraded": "medium"}
SEVERITY_ORDER = ["low", "medium", "high", "critical"]


def severity(ratio: float, event_status: str = "healthy") -> str:
    level = "critical" if ratio >= 4 else "high" if ratio >= 2 else "medium" if ratio >= 1.3 else "low"
    floor = SEVERITY_FROM_STATUS.get(event_status)
    if floor and SEVERITY_ORDER.index(floor) > SEVERITY_ORDER.index(level):
        return floor
    return level


def confidence(ratio: float, windows: int = 1) -> float:
    base = 0.5 + 0.49 * (1 - math.exp(-1.5 * max(ratio - 1.0, 0.0)))
    return round(min(0.99, base + 0.05 * max(windows - 1, 0)), 3)


def recommended_actions(kind: str, metric: str, version_changed: bool = False) -> list[dict[str, str]]:
    """Advice from the eight recovery action types, most fitting first, each with its reason."""

    def advice(action: str, why: str) -> dict[str, str]:
        return {"action": action, "rationale": why}

    if kind == ERRORS:
        first = (
            [advice("rollback_deployment", "errors began around a version change: return to the last good one")]
            if version_changed
            else []
        )
        return [
            *first,
            advice("circuit_breaker", "stop callers from piling onto a failing component while it recovers"),
            advice("restart_function", "clears a process stuck in a bad state"),
            advice("alert_escalation", "a person should look if the errors persist"),
        ]
    if kind == LATENCY:
        return [
            advice("restart_function", "slow responses from one component often mean stuck workers or a leak"),
            advice("scale_up", "if traffic rose with it, more replicas absorb the load"),
            advice("circuit_breaker", "shield callers if it stays slow"),
        ]
    if kind == RESOURCE:
        if metric == "memory_percent":
            return [
                advice("restart_function", "memory climbing toward the limit is the shape of a leak"),
                advice("scale_up", "spread the load while the leak is found"),
            ]
        if metric == "cpu_percent":
            return [
                advice("scale_up", "CPU saturation: add capacity"),
                advice("restart_function", "a spinning process"),
            ]
        if metric == "queue_depth":
            return [advice("scale_up", "more workers drain the queue"), advice("alert_escalation", "consumers stalled")]
        return [advice("clear_cache", "free space held by caches"), advice("alert_escalation", "disk needs a person")]
    if kind == AVAILABILITY:
        return [
            advice("restart_function", "the component stopped answering checks"),
            advice("rollback_deployment", "if a release preceded it"),
            advice("alert_escalation", "if it does not come back"),
        ]
    if kind == DROP:
        return [
            advice("restart_function", "traffic stopped reaching or leaving the component"),
            advice("alert_escalation", "a drop may be upstream: a person should check"),
        ]
    if kind == SURGE:
        return [advice("scale_up", "absorb the surge"), advice("circuit_breaker", "shed load if it overwhelms")]
    if kind == BREACH:
        return [
            advice("restart_function", "past the operator's own unhealthy thresholds, whatever its history"),
            advice("alert_escalation", "a person should look if it stays there"),
        ]
    if kind == NO_DATA:
        return [
            advice("restart_function", "a component that stopped reporting has often stopped working"),
            advice("alert_escalation", "or its reporting broke: a person should check"),
        ]
    return [advice("alert_escalation", "an external monitor raised it: route it to a person")]


def explain(watched: Watched, value: float, expected: float, low: float, high: float, z: float, windows: int) -> str:
    def fmt(x: float) -> str:
        if watched.metric in {"error_rate", "availability"}:
            return f"{x * 100:.2f} %"
        return f"{x:,.1f} {watched.unit}".strip()

    side = "above" if value >= expected else "below"
    return (
        f"{watched.label} {fmt(value)} vs expected {fmt(expected)} (normal band {fmt(max(low, 0))} to {fmt(high)}): "
        f"z = {z:.1f} {side} its learned baseline"
        + (f", {windows} anomalous windows so far" if windows > 1 else "")
        + "."
    )
