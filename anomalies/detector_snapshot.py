"""A detector's state as a small JSON-able snapshot, and its restoration (versions 1 to 3 load). Pure Python."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from anomalies.detector_parts import RollingSpread, RollingWindow

if TYPE_CHECKING:
    from anomalies.detector_parts import DetectorConfig


class Snapshot:
    """Mixed into ``Detector``: what it learned survives a restart."""

    config: DetectorConfig
    window: RollingWindow
    spread: RollingSpread
    recent: deque[float]
    seen: int
    over: int
    under: int
    incident: bool
    frozen: int
    side: int
    side_run: int
    first_ts: float | None
    last_ts: float | None
    interval: float
    levels: dict[int, list[float]]
    level_sum: float
    hourly: dict[int, list[float]]
    daily: dict[int, list[list[float]]]
    bursts: deque[list[float]]
    run_peak: float
    run_len: int
    late: int

    def state(self) -> dict[str, Any]:
        """A small JSON-able snapshot, so a restart does not forget what was learned."""
        return {
            "v": 3,
            "window": list(self.window.order),
            "spread": list(self.spread.order),
            "recent": list(self.recent),
            "seen": self.seen,
            "over": self.over,
            "under": self.under,
            "incident": self.incident,
            "frozen": self.frozen,
            "side": [self.side, self.side_run],
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "interval": self.interval,
            "levels": {str(k): v for k, v in self.levels.items()},
            "hourly": {str(k): [round(v[0], 3), v[1]] for k, v in self.hourly.items()},
            "daily": {str(k): [[c, round(p, 3)] for c, p in v] for k, v in self.daily.items()},
            "bursts": [[t, round(p, 3), n] for t, p, n in self.bursts],
            "run": [self.run_peak, self.run_len],
            "late": self.late,
        }

    def _load(self, state: dict[str, Any]) -> None:
        cfg = self.config
        window = [float(v) for v in state.get("window", [])]
        self.window = RollingWindow(cfg.window, window)
        # A version 1 snapshot had one window for both: start the scale from it.
        self.spread = RollingSpread(cfg.scale_window, [float(v) for v in state.get("spread", window)])
        self.recent.extend(float(v) for v in state.get("recent", []))
        self.seen = int(state.get("seen", 0))
        self.over = int(state.get("over", 0))
        self.under = int(state.get("under", 0))
        self.incident = bool(state.get("incident", False))
        self.frozen = int(state.get("frozen", 0))
        self.side, self.side_run = (int(v) for v in state.get("side", [0, 0]))
        self.first_ts = state.get("first_ts")
        self.last_ts = state.get("last_ts")
        self.interval = float(state.get("interval", 0.0))
        self.levels = {int(k): [float(v[0]), float(v[1])] for k, v in state.get("levels", {}).items()}
        self.level_sum = sum(v[0] for v in self.levels.values())
        self.hourly = {int(k): [float(v[0]), float(v[1])] for k, v in state.get("hourly", {}).items()}
        self.daily = {int(k): [[int(c), float(p)] for c, p in v] for k, v in state.get("daily", {}).items()}
        self.bursts = deque([float(t), float(p), int(n)] for t, p, n in state.get("bursts", []))
        peak, length = state.get("run", [0.0, 0])
        self.run_peak, self.run_len = float(peak), int(length)
        self.late = int(state.get("late", 0))  # version 3
