"""The streaming anomaly detector. Pure Python: no Django, no database, no numpy in the hot path.

One ``Detector`` watches one metric of one component; ``update(timestamp, value)`` decides causally, so the
same object serves live detection (its state persisted) and replay (``manage.py backtest``).

How it decides:

* **Baseline.** The expected value is the median of the last ``window`` values. The scale is the standard
  deviation of the last ``scale_window`` values, each *winsorised* to ``clip`` scales from the expected value
  on entry, and floored at ``rel_floor`` of the level so a flat metric does not turn every wiggle into an
  infinite score. The long, winsorised scale window is what keeps an outage visible while it unfolds: a
  throughput falling over five minutes cannot inflate the scale fast enough to hide itself.
* **Drift.** The median absorbs a lasting shift within half a window. A deviation that stays on one side of
  the band for ``relearn`` points in a row is a new level (a new workload ramping up, a deploy that changed a
  level for good): the baseline restarts from those points instead of alarming for hours.
* **Seasonality.** After ``season_min_cycles`` days, a per-time-of-day profile (``season_buckets`` phases,
  each an exponentially weighted level with a memory of ``season_memory`` days, interpolated between
  neighbouring phases) is subtracted first, so a daily peak is expected rather than anomalous.
* **Recurring excursions are not news.** Production metrics have their cron jobs: a dip at the top of every
  hour, a batch at 10:00 every day, a burst of queries a few times a day. Three memories raise the threshold
  for such an excursion: the same minute of the hour (a peak decaying by ``hourly_decay`` per hour), the
  same time of day on at least ``daily_need`` of the last ``daily_cycles`` days, and, for any time, excursions
  that happened ``burst_k`` times in the last ``burst_period_s`` — but only while the current one is no
  longer than those were, so a lasting outage is flagged however often blips occurred. Remembered scores
  are capped at ``recur_cap`` thresholds, so a true incident cannot blind the detector to a bigger one.
* **Decision and hysteresis.** A point is anomalous when the score reaches the threshold on
  ``min_duration`` consecutive points. An incident opens on such a point and closes only after
  ``recover_points`` points below ``close_threshold``: a flapping metric makes one incident, not ten.
* **Warm-up.** No decision before ``min_history`` points ("learning").
* **Late and repeated points.** A point whose timestamp is not after the newest one seen (a resent window, a
  point delivered out of order) is judged against the current baseline (``z``, ``score``, band) but changes
  nothing: it is not learned, does not count towards ``min_duration`` and cannot open or close an incident
  (``late`` is set, ``is_anomaly`` is false). They are counted in the state (``late``).
* **Levels** (``page``, ``notice``) and ``ratio``: see ``Decision`` in ``anomalies.detector_parts``.

``score`` is in 0..1: ``z / (z + threshold)``, so 0.5 is exactly the opening threshold.
The defaults were chosen on ``../shared/datasets/*/tune`` only; ``bench/detector.py`` reports them on the
validation halves.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from anomalies.detector_parts import (
    BOTH,
    DAY,
    HOUR,
    NOTICE,
    PAGE,
    UP,
    Decision,
    DetectorConfig,
    RollingSpread,
    RollingWindow,
)
from anomalies.detector_snapshot import Snapshot

__all__ = ["Decision", "Detector", "DetectorConfig"]


class Detector(Snapshot):
    def __init__(self, config: DetectorConfig | None = None, state: dict[str, Any] | None = None) -> None:
        self.config = config or DetectorConfig()
        cfg = self.config
        self.window = RollingWindow(cfg.window)
        self.spread = RollingSpread(cfg.scale_window)
        self.recent: deque[float] = deque(maxlen=max(cfg.relearn, 1))  # for relearning a new level
        self.seen = 0
        self.over = 0  # consecutive points at or over the threshold
        self.under = 0  # consecutive points under the closing threshold while an incident is open
        self.incident = False
        self.frozen = 0  # points kept out of the baseline during the current incident
        self.side = 0  # which side of the band the current lasting deviation is on (+1, -1, 0)
        self.side_run = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.interval = 0.0  # typical spacing of points in seconds (exponentially weighted)
        self.levels: dict[int, list[float]] = {}  # time-of-day bucket → [level, points seen]
        self.level_sum = 0.0
        self.hourly: dict[int, list[float]] = {}  # minute of the hour → [remembered score, when]
        self.daily: dict[int, list[list[float]]] = {}  # time of day → [[day number, peak score], …]
        self.bursts: deque[list[float]] = deque()  # [when it ended, peak score, length in points]
        self.run_peak = 0.0
        self.run_len = 0
        self.late = 0  # points whose timestamp was not after the newest one seen (judged, not learned)
        if state:
            self._load(state)

    # --- seasonality ------------------------------------------------------------------------------------

    def _season_offset(self, timestamp: float) -> float:
        """The daily profile's deviation from its mean at this time of day, interpolated between phases."""
        cfg = self.config
        levels = self.levels
        if not levels:
            return 0.0
        position = (timestamp % cfg.season_period_s) / cfg.season_period_s * cfg.season_buckets - 0.5
        below = math.floor(position)
        low = levels.get(below % cfg.season_buckets)
        high = levels.get((below + 1) % cfg.season_buckets)
        mean = self.level_sum / len(levels)
        if low is None or high is None:
            slot = levels.get(int(position + 0.5) % cfg.season_buckets)
            return slot[0] - mean if slot is not None else 0.0
        fraction = position - below
        return low[0] + fraction * (high[0] - low[0]) - mean

    def _learn_season(self, bucket: int, value: float) -> None:
        cfg = self.config
        slot = self.levels.get(bucket)
        if slot is None:
            self.levels[bucket] = [value, 1.0]
            self.level_sum += value
            return
        per_cycle = cfg.season_period_s / cfg.season_buckets / (self.interval if self.interval > 1.0 else 1.0)
        alpha = 1.0 / (slot[1] + 1.0)
        floor = 1.0 / ((per_cycle if per_cycle > 1.0 else 1.0) * cfg.season_memory)
        if alpha < floor:
            alpha = floor
        step = alpha * (value - slot[0])
        slot[0] += step
        slot[1] += 1.0
        self.level_sum += step

    # --- recurring excursions -----------------------------------------------------------------------------

    def _phases(self, period: float) -> int:
        """How many phases of ``period`` to remember (0: points too sparse for this period to mean anything)."""
        interval = self.interval
        if not 0 < interval * 4 <= period:
            return 0
        count = int(period / interval + 0.5)
        return count if count < self.config.recur_buckets else self.config.recur_buckets

    def _recurring(self, timestamp: float, z: float, remembered: float) -> float:
        """The threshold this point's excursion must beat given what recurred before; learns this point.

        An excursion recurs when one at least ``1 / recur_margin`` of its size was seen before. Only scores
        that could ever matter are remembered (within ``recur_margin`` of the threshold) and only excursions
        look anything up: for every other point the answer cannot change a decision, which keeps the common
        case cheap."""
        cfg = self.config
        threshold = cfg.threshold
        margin = cfg.recur_margin
        excursion = z >= threshold
        notable = remembered * margin >= threshold
        hourly = self._phases(HOUR) if (notable or self.hourly) else 0
        if hourly:  # the same minute of the hour in earlier hours: a decaying peak, ±1 phase for jitter
            at = int((timestamp % HOUR) / HOUR * hourly)
            if excursion:
                for k in (at - 1, at, at + 1):
                    slot = self.hourly.get(k % hourly)
                    # Only earlier hours count: what this excursion left a minute ago is not a recurrence.
                    if slot is not None and timestamp - slot[1] >= HOUR / 2:
                        level = slot[0] * cfg.hourly_decay ** ((timestamp - slot[1]) / HOUR) * margin
                        if level > threshold:
                            threshold = level
            slot = self.hourly.get(at)
            level = slot[0] * cfg.hourly_decay ** ((timestamp - slot[1]) / HOUR) if slot is not None else 0.0
            if notable:
                self.hourly[at] = [level if level > remembered else remembered, timestamp]
            elif slot is not None and level * margin < cfg.threshold:
                del self.hourly[at]  # decayed below mattering
        daily = self._phases(DAY) if (notable or excursion) else 0
        if daily:  # the same time of day on enough of the last few days
            at = int((timestamp % DAY) / DAY * daily)
            today = int(timestamp // DAY)
            if excursion:
                peaks: dict[float, float] = {}  # day number → peak (the pairs in self.daily are floats)
                for k in (at - 1, at, at + 1):
                    for day, peak in self.daily.get(k % daily, ()):
                        if today - cfg.daily_cycles <= day < today and peak > peaks.get(day, 0.0):
                            peaks[day] = peak
                if len(peaks) >= cfg.daily_need:
                    level = sorted(peaks.values())[-cfg.daily_need] * margin
                    if level > threshold:
                        threshold = level
            if notable:
                history = self.daily.setdefault(at, [])
                if history and history[-1][0] == today:
                    if remembered > history[-1][1]:
                        history[-1][1] = remembered
                else:
                    history.append([today, remembered])
                    if len(history) > cfg.daily_cycles:
                        del history[0]
        if cfg.burst_k:  # any time: the k-th largest of today's excursions, while this one is no longer
            bursts = self.bursts
            while bursts and bursts[0][0] < timestamp - cfg.burst_period_s:
                bursts.popleft()
            running = self.run_len + 1 if excursion else 0
            if running:
                if len(bursts) >= cfg.burst_k:
                    peak = sorted(b[1] for b in bursts)[-cfg.burst_k] * margin
                    longest = sorted(b[2] for b in bursts)[-cfg.burst_k]
                    if peak > threshold and running <= longest:
                        threshold = peak
                if remembered > self.run_peak:
                    self.run_peak = remembered
            elif self.run_len:
                bursts.append([timestamp, self.run_peak, self.run_len])
                self.run_peak = 0.0
            self.run_len = running
        return threshold

    # --- detection ---------------------------------------------------------------------------------------

    def update(self, timestamp: float, value: float) -> Decision:
        """Learn from one value and decide about it."""
        late = self.last_ts is not None and timestamp <= self.last_ts
        step = self.step(timestamp, value)
        if step is None:
            learning = self.seen <= self.config.min_history
            return Decision(0.0, 0.0, False, self.incident, False, False, None, None, None, learning, late=late)
        score, z, point, opened, closed, expected, band = step
        ratio = score / (1.0 - score) if score < 1.0 else math.inf  # score = ratio / (1 + ratio)
        level = PAGE if point else NOTICE if z >= self.config.threshold or ratio >= 1.0 else ""
        return Decision(
            score, z, point, self.incident, opened, closed, expected, expected - band, expected + band, False,
            ratio, level, late,
        )  # fmt: skip

    def step(self, timestamp: float, value: float) -> tuple[float, float, bool, bool, bool, float, float] | None:
        """``update`` without the Decision object, for replaying millions of points: (score, z, anomalous,
        opened, closed, expected, band half-width), or None while learning or for a non-finite value."""
        cfg = self.config
        self.seen += 1
        if not math.isfinite(value):
            return None
        if self.first_ts is None:
            self.first_ts = timestamp
        last = self.last_ts
        if last is not None:
            if timestamp <= last:
                return self._late(timestamp, value)
            delta = timestamp - last
            self.interval = delta if self.interval == 0 else self.interval + 0.05 * (delta - self.interval)
        self.last_ts = timestamp
        seasonal = cfg.season_buckets > 0
        bucket = int((timestamp % cfg.season_period_s) / cfg.season_period_s * cfg.season_buckets)
        offset = 0.0
        if seasonal and timestamp - self.first_ts >= cfg.season_min_cycles * cfg.season_period_s:
            offset = self._season_offset(timestamp)
        window = self.window
        n = len(window.order)
        if n < cfg.min_history:
            window.add(value - offset)
            self.spread.add(value - offset)
            if seasonal:
                self._learn_season(bucket, value)
            return None

        data = window.sorted
        middle = n // 2
        expected = (data[middle] if n % 2 else (data[middle - 1] + data[middle]) * 0.5) + offset
        scale = self.spread.std()
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
        # Most points are far from any threshold with nothing remembered: then recurrence cannot matter.
        if cfg.recurrence and (z * cfg.recur_margin >= threshold or self.hourly or self.run_len):
            cap = cfg.recur_cap * threshold
            threshold = self._recurring(timestamp, z, z if z < cap else cap)
        self.over = self.over + 1 if z >= threshold else 0
        point = self.over >= cfg.min_duration
        if cfg.bad_level is not None or cfg.accept_level is not None:
            bad = cfg.past(value, cfg.bad_level)
            if bad or ((self.incident or self.over) and cfg.past(value, cfg.accept_level)):
                # Past the operator's bounds: never the new normal. Out of the baseline, and an open incident
                # stays open (past the unhealthy bound it stays anomalous) however long the level lasts.
                return self._decide(point or (bad and self.incident), z, threshold, expected, scale, hold=True)
        if (self.incident or self.over) and self.frozen < cfg.freeze:
            # Keep the incident's values out of the baseline (bounded: a lasting shift is learned later).
            self.frozen += 1
            return self._decide(point, z, threshold, expected, scale)
        if not self.incident:
            self.frozen = 0
        if cfg.relearn:
            side = 1 if deviation >= cfg.close_threshold else -1 if deviation <= -cfg.close_threshold else 0
            if side and side == self.side:
                self.side_run += 1
            else:
                self.side, self.side_run = side, 1 if side else 0
            self.recent.append(value - offset)
            if self.side_run >= cfg.relearn:
                # A new level: start the baseline again from the points that showed it.
                self.window = RollingWindow(cfg.window, list(self.recent))
                self.spread = RollingSpread(cfg.scale_window, list(self.recent))
                self.side = self.side_run = 0
                return self._decide(point, z, threshold, expected, scale)
        limit = cfg.clip * scale
        clipped = value
        if clipped > expected + limit:
            clipped = expected + limit
        elif clipped < expected - limit:
            clipped = expected - limit
        # The median sees the value itself (it is robust already, and a level shift must reach it); the
        # scale sees it winsorised, so an excursion cannot widen the band that should expose it.
        window.add(value - offset)
        self.spread.add(clipped - offset)
        if seasonal:
            self._learn_season(bucket, clipped)
        return self._decide(point, z, threshold, expected, scale)

    def _late(self, timestamp: float, value: float) -> tuple[float, float, bool, bool, bool, float, float] | None:
        """Judge a point older than (or as old as) the newest one against the current baseline; learn nothing.

        Learning it would feed the seasonal profile and the memories of recurring excursions a time already
        passed, and let a resent window count twice towards ``min_duration``."""
        cfg = self.config
        self.seen -= 1  # not a new point
        self.late += 1
        n = len(self.window.order)
        if n < cfg.min_history:
            return None
        offset = 0.0  # first_ts is set by now (the window holds points); `or 0.0` only narrows its type
        if cfg.season_buckets > 0 and timestamp - (self.first_ts or 0.0) >= cfg.season_min_cycles * cfg.season_period_s:
            offset = self._season_offset(timestamp)
        data = self.window.sorted
        middle = n // 2
        expected = (data[middle] if n % 2 else (data[middle - 1] + data[middle]) * 0.5) + offset
        scale = max(self.spread.std(), cfg.rel_floor * abs(expected), cfg.abs_floor)
        deviation = (value - expected) / scale
        z = abs(deviation) if cfg.direction == BOTH else max(deviation if cfg.direction == UP else -deviation, 0.0)
        threshold = cfg.threshold
        return z / (z + threshold), z, False, False, False, expected, threshold * scale

    def _decide(
        self, point: bool, z: float, threshold: float, expected: float, scale: float, hold: bool = False
    ) -> tuple[float, float, bool, bool, bool, float, float]:
        """Open or close the incident (hysteresis) and shape ``step``'s answer. ``hold``: the value is past the
        operator's bounds, so it does not count towards closing."""
        opened = closed = False
        if point and not self.incident:
            self.incident = opened = True
            self.under = 0
        elif self.incident:
            self.under = self.under + 1 if z < self.config.close_threshold and not hold else 0
            if self.under >= self.config.recover_points:
                self.incident = False
                closed = True
        return z / (z + threshold), z, point, opened, closed, expected, threshold * scale
