"""The streaming anomaly detector. Pure Python: no Django, no database, no numpy in the hot path.

One ``Detector`` watches one metric of one component. ``update(timestamp, value)`` returns a score and the
decision production takes, from that value and earlier ones only (causal), so the same object serves live
detection (its state persisted between windows) and replay (``manage.py backtest``).

How it decides:

* **Baseline.** The median of the last ``window`` values is the expected value; the standard deviation of
  the same window is the scale, floored at ``rel_floor`` of the level so a flat metric does not turn every
  wiggle into an infinite score. Values enter the window *winsorised*: an extreme value counts only up to
  ``clip`` scales from the median, so one spike cannot drag the baseline, while a lasting shift (a deploy
  that changed a level for good) is absorbed within about a window: that is the drift adaptation.
* **Seasonality.** After ``season_min_cycles`` days, a per-time-of-day profile (``season_buckets`` phases,
  each an exponentially weighted level with a memory of ``season_memory`` days) is subtracted first, so a
  daily peak is expected rather than anomalous. Points need not be evenly spaced.
* **Burstiness.** A metric whose own recent scores often run high (bursty traffic) needs a bigger excursion
  to be unusual: the opening threshold is at least ``spike_margin`` times the ``spike_quantile`` of its last
  ``spike_window`` scores.
* **Decision and hysteresis.** A point is anomalous when the score reaches the threshold on
  ``min_duration`` consecutive points. An incident opens on such a point and closes only after
  ``recover_points`` points below ``close_threshold``: a flapping metric makes one incident, not ten.
* **Warm-up.** No decision before ``min_history`` points ("learning").

``score`` is in 0..1: ``z / (z + threshold)``, so 0.5 is exactly the opening threshold.
The defaults were chosen on ``../shared/datasets/*/tune`` only; ``bench/detector.py`` reports them on the
validation halves.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

UP, DOWN, BOTH = "up", "down", "both"


@dataclass(frozen=True)
class DetectorConfig:
    window: int = 60
    min_history: int = 24
    threshold: float = 5.0
    close_threshold: float = 3.0
    min_duration: int = 1
    recover_points: int = 3
    clip: float = 5.0
    direction: str = BOTH
    rel_floor: float = 0.02
    abs_floor: float = 1e-6
    season_period_s: float = 86_400.0
    season_buckets: int = 24
    season_min_cycles: float = 2.0
    season_memory: float = 3.0
    spike_quantile: float = 0.99
    spike_margin: float = 1.0
    spike_window: int = 384
    spike_cap: float = 2.0
    # While an incident is open its values do not teach the baseline (repeated incidents must not become the
    # new normal), for at most this many points (a lasting shift is learned after that). 0: always learn.
    freeze: int = 0

    def replace(self, **changes: Any) -> DetectorConfig:
        return DetectorConfig(**{**asdict(self), **changes})

    def problems(self) -> list[str]:
        """What is wrong with these settings, as messages (empty when usable)."""
        found = []
        if not 8 <= self.window <= 10_000:
            found.append("window must be 8..10000 points")
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
        return found


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


class _Window:
    """The last ``size`` values in arrival order and sorted, with running sums for the variance."""

    __slots__ = ("order", "size", "sorted", "squares", "total")

    def __init__(self, size: int, values: list[float] | None = None) -> None:
        self.size = size
        self.order: deque[float] = deque(values[-size:] if values else [])
        self.sorted = sorted(self.order)
        self.total = math.fsum(self.order)
        self.squares = math.fsum(v * v for v in self.order)

    def add(self, value: float) -> None:
        self.order.append(value)
        insort(self.sorted, value)
        self.total += value
        self.squares += value * value
        if len(self.order) > self.size:
            old = self.order.popleft()
            del self.sorted[bisect_left(self.sorted, old)]
            self.total -= old
            self.squares -= old * old

    def __len__(self) -> int:
        return len(self.order)


class Detector:
    def __init__(self, config: DetectorConfig | None = None, state: dict[str, Any] | None = None) -> None:
        self.config = config or DetectorConfig()
        self.window = _Window(self.config.window)
        self.zs = _Window(self.config.spike_window)
        self.seen = 0
        self.over = 0  # consecutive points at or over the threshold
        self.under = 0  # consecutive points under the closing threshold while an incident is open
        self.incident = False
        self.frozen = 0  # points kept out of the baseline during the current incident
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.interval = 0.0  # typical spacing of points in seconds (exponentially weighted)
        self.levels: dict[int, list[float]] = {}  # time-of-day bucket → [level, points seen]
        self.level_sum = 0.0
        if state:
            self._load(state)

    # --- persisted state ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """A small JSON-able snapshot, so a restart does not forget what was learned."""
        return {
            "v": 1,
            "window": list(self.window.order),
            "zs": [round(z, 3) for z in self.zs.order],
            "seen": self.seen,
            "over": self.over,
            "under": self.under,
            "incident": self.incident,
            "frozen": self.frozen,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "interval": self.interval,
            "levels": {str(k): v for k, v in self.levels.items()},
        }

    def _load(self, state: dict[str, Any]) -> None:
        self.window = _Window(self.config.window, [float(v) for v in state.get("window", [])])
        self.zs = _Window(self.config.spike_window, [float(v) for v in state.get("zs", [])])
        self.seen = int(state.get("seen", 0))
        self.over = int(state.get("over", 0))
        self.under = int(state.get("under", 0))
        self.incident = bool(state.get("incident", False))
        self.frozen = int(state.get("frozen", 0))
        self.first_ts = state.get("first_ts")
        self.last_ts = state.get("last_ts")
        self.interval = float(state.get("interval", 0.0))
        self.levels = {int(k): [float(v[0]), float(v[1])] for k, v in state.get("levels", {}).items()}
        self.level_sum = sum(v[0] for v in self.levels.values())

    # --- seasonality ------------------------------------------------------------------------------------

    def _learn_season(self, bucket: int, value: float) -> None:
        cfg = self.config
        slot = self.levels.get(bucket)
        if slot is None:
            self.levels[bucket] = [value, 1.0]
            self.level_sum += value
            return
        per_cycle = cfg.season_period_s / cfg.season_buckets / (self.interval if self.interval > 1.0 else 1.0)
        memory = (per_cycle if per_cycle > 1.0 else 1.0) * cfg.season_memory
        alpha = 1.0 / (slot[1] + 1.0)
        if alpha < 1.0 / memory:
            alpha = 1.0 / memory
        step = alpha * (value - slot[0])
        slot[0] += step
        slot[1] += 1.0
        self.level_sum += step

    # --- detection ---------------------------------------------------------------------------------------

    def update(self, timestamp: float, value: float) -> Decision:
        """Learn from one value and decide about it."""
        step = self.step(timestamp, value)
        if step is None:
            learning = self.seen <= self.config.min_history
            return Decision(0.0, 0.0, False, self.incident, False, False, None, None, None, learning)
        score, z, point, opened, closed, expected, band = step
        return Decision(
            score, z, point, self.incident, opened, closed, expected, expected - band, expected + band, False
        )

    def step(self, timestamp: float, value: float) -> tuple[float, float, bool, bool, bool, float, float] | None:
        """``update`` without the Decision object, for replaying millions of points: (score, z, anomalous,
        opened, closed, expected, band half-width), or None while learning or for a non-finite value."""
        cfg = self.config
        self.seen += 1
        if not math.isfinite(value):
            return None
        seasonal = cfg.season_buckets > 0
        bucket = 0
        if seasonal:  # _observe_time(), inlined for speed
            if self.first_ts is None:
                self.first_ts = timestamp
            last = self.last_ts
            if last is not None and timestamp > last:
                delta = timestamp - last
                self.interval = delta if self.interval == 0 else self.interval + 0.05 * (delta - self.interval)
            self.last_ts = timestamp
            period = cfg.season_period_s
            bucket = int((timestamp % period) / period * cfg.season_buckets)
        offset = 0.0
        if seasonal and timestamp - self.first_ts >= cfg.season_min_cycles * cfg.season_period_s:
            slot = self.levels.get(bucket)
            if slot is not None:
                offset = slot[0] - self.level_sum / len(self.levels)
        window = self.window
        n = len(window.order)
        if n < cfg.min_history:
            window.add(value - offset)
            if seasonal:
                self._learn_season(bucket, value)
            return None

        data = window.sorted
        middle = n // 2
        median = data[middle] if n % 2 else (data[middle - 1] + data[middle]) * 0.5
        expected = median + offset
        mean = window.total / n
        variance = window.squares / n - mean * mean
        scale = math.sqrt(variance) if variance > 0 else 0.0
        floor = cfg.rel_floor * (expected if expected > 0 else -expected)
        if scale < floor:
            scale = floor
        if scale < cfg.abs_floor:
            scale = cfg.abs_floor
        deviation = (value - expected) / scale
        direction = cfg.direction
        if direction == BOTH:
            z = deviation if deviation > 0 else -deviation
        elif direction == UP:
            z = deviation if deviation > 0 else 0.0
        else:
            z = -deviation if deviation < 0 else 0.0

        threshold = cfg.threshold
        zs = self.zs
        if cfg.spike_margin and len(zs.order) >= cfg.min_history:
            high = cfg.spike_margin * zs.sorted[int(cfg.spike_quantile * (len(zs.sorted) - 1))]
            if high > threshold:
                threshold = high
        # The recent scores, capped so that a true anomaly does not blind the detector to the next one.
        cap = cfg.spike_cap * cfg.threshold
        capped = z if z < cap else cap
        zs.order.append(capped)
        insort(zs.sorted, capped)
        if len(zs.order) > zs.size:
            del zs.sorted[bisect_left(zs.sorted, zs.order.popleft())]

        self.over = self.over + 1 if z >= threshold else 0
        point = self.over >= cfg.min_duration
        if (self.incident or self.over) and self.frozen < cfg.freeze:
            # Keep the incident's values out of the baseline (bounded: a lasting shift is learned later).
            self.frozen += 1
            return self._decide(point, z, threshold, expected, scale)
        if not self.incident:
            self.frozen = 0
        limit = cfg.clip * scale
        clipped = value
        if clipped > expected + limit:
            clipped = expected + limit
        elif clipped < expected - limit:
            clipped = expected - limit
        # window.add(), inlined: this line runs for every point of every metric.
        learned = clipped - offset
        window.order.append(learned)
        insort(data, learned)
        window.total += learned
        window.squares += learned * learned
        if n >= window.size:
            old = window.order.popleft()
            del data[bisect_left(data, old)]
            window.total -= old
            window.squares -= old * old
        if seasonal:  # _learn_season(), inlined for speed
            slot = self.levels.get(bucket)
            if slot is None:
                self.levels[bucket] = [clipped, 1.0]
                self.level_sum += clipped
            else:
                per_cycle = cfg.season_period_s / cfg.season_buckets / (self.interval if self.interval > 1.0 else 1.0)
                alpha = 1.0 / (slot[1] + 1.0)
                floor = 1.0 / ((per_cycle if per_cycle > 1.0 else 1.0) * cfg.season_memory)
                if alpha < floor:
                    alpha = floor
                change = alpha * (clipped - slot[0])
                slot[0] += change
                slot[1] += 1.0
                self.level_sum += change

        return self._decide(point, z, threshold, expected, scale)

    def _decide(
        self, point: bool, z: float, threshold: float, expected: float, scale: float
    ) -> tuple[float, float, bool, bool, bool, float, float]:
        """Open or close the incident (hysteresis) and shape ``step``'s answer."""
        opened = closed = False
        if point and not self.incident:
            self.incident = opened = True
            self.under = 0
        elif self.incident:
            self.under = self.under + 1 if z < self.config.close_threshold else 0
            if self.under >= self.config.recover_points:
                self.incident = False
                closed = True
        return z / (z + threshold), z, point, opened, closed, expected, threshold * scale
