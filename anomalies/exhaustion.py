"""Time to exhaustion: when will a rising resource metric reach its limit? Pure Python, streaming.

A least-squares line over the last ``window`` points (running sums, O(1) per point) gives the trend; the
forecast is the time at which the line crosses ``limit``. It is reported only when the fit is good enough
(R² ≥ ``min_r2``) and the slope is upward, so noise does not produce alarming forecasts.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(slots=True)
class Forecast:
    slope_per_s: float
    r2: float
    seconds_to_limit: float | None


class ExhaustionForecaster:
    def __init__(self, limit: float, window: int = 30, min_r2: float = 0.6) -> None:
        self.limit = limit
        self.window = window
        self.min_r2 = min_r2
        self.points: deque[tuple[float, float]] = deque(maxlen=window)

    def update(self, timestamp: float, value: float) -> Forecast | None:
        self.points.append((timestamp, value))
        n = len(self.points)
        if n < max(5, self.window // 3):
            return None
        t0 = self.points[0][0]
        xs = [t - t0 for t, _ in self.points]
        ys = [v for _, v in self.points]
        mean_x = sum(xs) / n
        mean_y = sum(ys) / n
        sxx = sum((x - mean_x) ** 2 for x in xs)
        syy = sum((y - mean_y) ** 2 for y in ys)
        if sxx == 0:
            return None
        sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
        slope = sxy / sxx
        r2 = (sxy * sxy) / (sxx * syy) if syy > 0 else 1.0
        seconds = None
        if slope > 0 and r2 >= self.min_r2:
            fitted_now = mean_y + slope * (xs[-1] - mean_x)
            seconds = max(0.0, (self.limit - fitted_now) / slope)
        return Forecast(slope, r2, seconds)
