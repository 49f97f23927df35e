"""The detector's parts: its settings, its decision, and the rolling windows its baseline is made of.
Pure Python (``anomalies.detector`` explains how they are used).

* **Levels.** ``level`` is ``"page"`` when the point is anomalous (``is_anomaly``: the decision that pages and
  heals), ``"notice"`` when it went past the base threshold but not past the bar that pages (a recurring
  excursion, or one still short of ``min_duration``): worth recording, not worth waking anyone.
  ``ratio`` is ``z`` over the bar that pages at this point (≥ 1 on an anomalous point), which is what a
  component-level decision (``anomalies.pager``) compares across metrics.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

UP, DOWN, BOTH = "up", "down", "both"
HOUR, DAY = 3600.0, 86400.0


@dataclass(frozen=True)
class DetectorConfig:
    window: int = 60
    scale_window: int = 240
    min_history: int = 24
    threshold: float = 5.0
    close_threshold: float = 3.0
    min_duration: int = 1
    recover_points: int = 3
    clip: float = 3.0
    direction: str = BOTH
    rel_floor: float = 0.02
    abs_floor: float = 1e-6
    relearn: int = 30
    season_period_s: float = DAY
    season_buckets: int = 24
    season_min_cycles: float = 2.0
    season_memory: float = 3.0
    recurrence: bool = True  # the three memories of recurring excursions below
    recur_buckets: int = 60  # phases per hour and per day (fewer when points are sparser)
    recur_cap: float = 4.0
    recur_margin: float = 1.25
    hourly_decay: float = 0.97
    daily_cycles: int = 3
    daily_need: int = 2
    burst_period_s: float = DAY
    burst_k: int = 2
    # While an incident is open its values do not teach the baseline (repeated incidents must not become the
    # new normal), for at most this many points (a lasting shift is learned after that). 0: always learn.
    freeze: int = 0
    # The operator's own bounds (a component's degraded and unhealthy thresholds, in the watched direction).
    # A level past ``accept_level`` is never learned while an incident is open, so it cannot become the new
    # normal and close the incident by itself; one past ``bad_level`` is never learned at all and holds an
    # open incident open for as long as it lasts. None: no bound (the datasets, unnamed metrics).
    accept_level: float | None = None
    bad_level: float | None = None

    def past(self, value: float, level: float | None) -> bool:
        """Is ``value`` at or beyond ``level`` in the direction this metric gets worse?"""
        if level is None or self.direction == BOTH:
            return False
        return value >= level if self.direction == UP else value <= level

    def replace(self, **changes: Any) -> DetectorConfig:
        return DetectorConfig(**{**asdict(self), **changes})

    def problems(self) -> list[str]:
        """What is wrong with these settings, as messages (empty when usable)."""
        found = []
        if not 8 <= self.window <= 10_000:
            found.append("window must be 8..10000 points")
        if not 8 <= self.scale_window <= 100_000:
            found.append("scale_window must be 8..100000 points")
        if not 2 <= self.min_history <= 10_000:
            found.append("min_history must be 2..10000 points")
        if not 0 < self.close_threshold <= self.threshold:
            found.append("close_threshold must be positive and at most threshold")
        if self.min_duration < 1 or self.recover_points < 1:
            found.append("min_duration and recover_points must be at least 1")
        if self.direction not in {UP, DOWN, BOTH}:
            found.append("direction must be up, down or both")
        if self.season_buckets < 0 or self.season_period_s <= 0:
            found.append("season_buckets must be ≥ 0 and season_period_s positive")
        if self.clip <= 0 or self.recur_cap <= 0:
            found.append("clip and recur_cap must be positive")
        return found


PAGE, NOTICE = "page", "notice"


@dataclass(slots=True)
class Decision:
    score: float
    z: float
    is_anomaly: bool
    incident_open: bool
    opened: bool
    closed: bool
    expected: float | None
    band_low: float | None
    band_high: float | None
    learning: bool
    ratio: float = 0.0  # z over the bar that pages here (the threshold after what recurred): ≥ 1 when anomalous
    level: str = ""  # "page" (is_anomaly), "notice" (past the base threshold, not past the bar), or ""
    late: bool = False  # its timestamp was not after the newest one seen: judged, not learned


class RollingWindow:
    """The last ``size`` values in arrival order and sorted (for the median)."""

    __slots__ = ("order", "size", "sorted")

    def __init__(self, size: int, values: list[float] | None = None) -> None:
        self.size = size
        self.order: deque[float] = deque(values[-size:] if values else [])
        self.sorted = sorted(self.order)

    def add(self, value: float) -> None:
        self.order.append(value)
        insort(self.sorted, value)
        if len(self.order) > self.size:
            del self.sorted[bisect_left(self.sorted, self.order.popleft())]


class RollingSpread:
    """The last ``size`` values with running sums, for their standard deviation."""

    __slots__ = ("order", "size", "squares", "total")

    def __init__(self, size: int, values: list[float] | None = None) -> None:
        self.size = size
        self.order: deque[float] = deque(values[-size:] if values else [])
        self.total = math.fsum(self.order)
        self.squares = math.fsum(v * v for v in self.order)

    def add(self, value: float) -> None:
        self.order.append(value)
        self.total += value
        self.squares += value * value
        if len(self.order) > self.size:
            old = self.order.popleft()
            self.total -= old
            self.squares -= old * old

    def std(self) -> float:
        n = len(self.order)
        mean = self.total / n
        variance = self.squares / n - mean * mean
        return math.sqrt(variance) if variance > 0 else 0.0
