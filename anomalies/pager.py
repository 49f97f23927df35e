"""One component, many metrics: when to page, and one incident per fault. Pure Python, streaming.

Each metric of a component has its own ``Detector``; its ``Decision`` says whether that metric is unusual.
A server has a few dozen metrics, and each of them alone is unusual now and then: paging whenever *any* of
them is turns a handful of per-metric false alarms into a pager that never sleeps (ASD: 139 false pages per
10,000 points). A real fault moves several metrics together. ``ComponentPager`` takes every metric's
decision at each timestamp and decides for the component:

* **Corroboration.** The component's incident opens (a *page*) when at least ``corroborate`` metrics have
  opened a signal (``is_anomaly``) within the last ``within`` timestamps, one of them now; or when one metric
  alone goes ``strong`` times past its own bar (``Decision.ratio``; off by default). A component with fewer
  metrics than ``corroborate`` needs all of them (one metric: itself).
* **One incident per fault.** While the incident is open, further metric openings join it: no new page. It
  closes after ``calm`` timestamps in a row on which no metric is anomalous.
* **Notices.** A metric anomaly that is not corroborated is a *notice*: worth recording, not worth waking
  anyone or healing anything.

``update(timestamp, decisions)`` returns a ``ComponentDecision``; ``page`` is the onset of the incident (the
only thing that pages and heals), ``incident_open`` the incident flag. ``state()`` is small and JSON-able.
The defaults were chosen on ``../shared/datasets/asd/tune`` (see ``bench/detector.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

PAGE, NOTICE = "page", "notice"


class MetricDecision(Protocol):
    """What the pager reads from a metric's decision (``anomalies.detector.Decision`` has it)."""

    is_anomaly: bool
    ratio: float


@dataclass(frozen=True)
class PagerConfig:
    corroborate: int = 3  # metrics that must open a signal together for the component to page
    within: int = 3  # "together": within this many timestamps of each other
    calm: int = 2  # timestamps in a row with no anomalous metric before the incident closes
    strong: float = math.inf  # one metric this many times past its own bar pages alone (inf: never)

    def replace(self, **changes: Any) -> PagerConfig:
        return PagerConfig(**{**asdict(self), **changes})

    def problems(self) -> list[str]:
        found = []
        if self.corroborate < 1:
            found.append("corroborate must be at least 1")
        if self.within < 1 or self.calm < 1:
            found.append("within and calm must be at least 1")
        if not self.strong >= 1.0:
            found.append("strong must be at least 1")
        return found


@dataclass(slots=True)
class ComponentDecision:
    page: bool  # the component's incident opened at this timestamp: page (and heal)
    incident_open: bool
    closed: bool
    level: str  # "page" while the incident is open and a metric is anomalous, "notice" for an uncorroborated one
    anomalous: list[str] = field(default_factory=list)  # metrics anomalous at this timestamp
    joined: list[str] = field(default_factory=list)  # metrics that joined the open incident at this timestamp
    members: list[str] = field(default_factory=list)  # every metric of the open incident so far


class ComponentPager:
    def __init__(self, config: PagerConfig | None = None, state: dict[str, Any] | None = None) -> None:
        self.config = config or PagerConfig()
        self.tick = 0  # timestamps seen
        self.last_ts: float | None = None
        self.flagged: dict[str, int] = {}  # metric → the tick it was last anomalous on
        self.open = False
        self.quiet = 0
        self.opened_at: float | None = None
        self.members: list[str] = []
        self.known: set[str] = set()  # metrics this component reports (for small components)
        if state:
            self._load(state)

    def state(self) -> dict[str, Any]:
        return {
            "v": 1,
            "tick": self.tick,
            "last_ts": self.last_ts,
            "flagged": dict(self.flagged),
            "open": self.open,
            "quiet": self.quiet,
            "opened_at": self.opened_at,
            "members": list(self.members),
            "known": sorted(self.known),
        }

    def _load(self, state: dict[str, Any]) -> None:
        self.tick = int(state.get("tick", 0))
        self.last_ts = state.get("last_ts")
        self.flagged = {str(k): int(v) for k, v in state.get("flagged", {}).items()}
        self.open = bool(state.get("open", False))
        self.quiet = int(state.get("quiet", 0))
        self.opened_at = state.get("opened_at")
        self.members = [str(m) for m in state.get("members", [])]
        self.known = {str(m) for m in state.get("known", [])}

    def update(self, timestamp: float, decisions: Mapping[str, MetricDecision]) -> ComponentDecision:
        """Every metric's decision at one timestamp (metrics without a value may be left out).

        A timestamp not after the last one is folded into it: its anomalous metrics count as anomalous then,
        and it can join an open incident, but it does not advance time (``within``, ``calm``)."""
        cfg = self.config
        if self.last_ts is None or timestamp > self.last_ts:
            self.tick += 1
            self.last_ts = timestamp
            fresh = True
        else:
            fresh = False
        tick = self.tick
        self.known.update(decisions)
        anomalous = [m for m, d in decisions.items() if d.is_anomaly]
        strong = any(d.ratio >= cfg.strong for d in decisions.values() if d.is_anomaly)
        for metric in anomalous:
            self.flagged[metric] = tick
        horizon = tick - cfg.within
        for metric in [m for m, t in self.flagged.items() if t <= horizon]:
            del self.flagged[metric]  # too long ago to corroborate anything
        need = min(cfg.corroborate, len(self.known)) or 1
        page = closed = False
        joined: list[str] = []
        if anomalous:
            if self.open:
                joined = [m for m in anomalous if m not in self.members]
                self.members.extend(joined)
                self.quiet = 0
            elif strong or len(self.flagged) >= need:
                self.open = page = True
                self.quiet = 0
                self.opened_at = timestamp
                self.members = sorted(self.flagged)
                joined = list(self.members)
        elif self.open and fresh:
            self.quiet += 1
            if self.quiet >= cfg.calm:
                self.open = False
                self.members = []
                closed = True
        level = PAGE if self.open and anomalous else NOTICE if anomalous else ""
        return ComponentDecision(page, self.open, closed, level, anomalous, joined, list(self.members))
