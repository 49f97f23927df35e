"""Detection's decision for one metric of one component. Pure Python: no Django, no database.

Given the metric's stored state (the detector's snapshot, the exhaustion forecaster's points, the count of
anomalous windows, the last version seen, when it came back to normal), its detector settings and the events
it has not judged yet (plain dicts), ``metric_replay`` replays them and returns the new state and the open
incident, if any. The service only loads and saves the rows around it.

What it decides, per event:

* **Anomalous?** The detector says so, or (once past warm-up) a resource is near its limit
  (``rules.RESOURCE_NEAR_LIMIT``) or forecast to reach it within ``rules.EXHAUSTION_HORIZON_S``. A resource
  below ``rules.RESOURCE_CALM`` of its limit is calm, however unusual, unless the forecast says otherwise.
* **Which kind.** The metric's own; throughput is a drop below its expected value and a surge above it.
* **A release?** An incident within ``RECENT_RELEASE`` windows of a version change points at the release.
* **Back to normal.** When the incident closes (or no longer holds after anomalous windows), ``normal_at``
  is that event's window; the service starts the resolve-after wait from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from anomalies import rules
from anomalies.detector import Decision, Detector, DetectorConfig
from anomalies.exhaustion import ExhaustionForecaster, Forecast

# Windows after a version change during which a new incident is blamed on the release (a rate may need a
# window or two to cross the threshold).
RECENT_RELEASE = 3
# The detector settings an operator may override per component (``DetectionSettings``).
OVERRIDABLE = ("threshold", "window", "min_duration", "min_history", "freeze")


def config_for(
    *,
    watched: rules.Watched,
    overrides: Mapping[str, Any] | None = None,
    bounds: Sequence[float] | None = None,
) -> DetectorConfig:
    """The detector settings of one watched metric: its defaults, then the operator's overrides (None keeps
    the default). ``bounds`` are the component's ``[degraded, unhealthy, critical]`` thresholds for the metric:
    past degraded a level is never learned during an incident, past unhealthy never at all."""
    config = DetectorConfig(direction=watched.direction, abs_floor=watched.floor, min_duration=watched.min_duration)
    changes = {name: value for name, value in (overrides or {}).items() if name in OVERRIDABLE and value is not None}
    if bounds is not None and len(bounds) >= 2:
        changes.update(accept_level=float(bounds[0]), bad_level=float(bounds[1]))
    return config.replace(**changes) if changes else config


@dataclass(frozen=True, kw_only=True)
class Deviation:
    """One metric's open deviation (the detector's incident) after the new events: what the newest anomalous
    window looked like. A signal is opened or updated from it."""

    watched: rules.Watched
    kind: str
    value: float
    expected: float
    low: float
    high: float
    z: float
    ratio: float  # z over the threshold, at least 1
    windows: int  # anomalous windows in a row so far
    status: str  # the health status of the event
    window_start: datetime
    version_changed: bool
    extra: str = ""  # what the resource rules add to the explanation

    @property
    def severity(self) -> str:
        return rules.severity(self.ratio, self.status)

    @property
    def confidence(self) -> float:
        return rules.confidence(self.ratio, self.windows)

    @property
    def explanation(self) -> str:
        said = rules.explain(self.watched, self.value, self.expected, self.low, self.high, self.z, self.windows)
        return said + self.extra

    @property
    def recommended_actions(self) -> list[dict[str, str]]:
        return rules.recommended_actions(self.kind, self.watched.metric, self.version_changed)


@dataclass(frozen=True, kw_only=True)
class Replay:
    """The outcome of replaying new events: the state to store, and the incident if one is open."""

    state: dict[str, Any]
    last_window_start: datetime | None
    deviation: Deviation | None
    normal_at: datetime | None  # when the metric came back to normal (None while it has not)


def metric_replay(
    *,
    watched: rules.Watched,
    config: DetectorConfig,
    stored: Mapping[str, Any] | None,
    last_window_start: datetime | None,
    events: Iterable[Mapping[str, Any]],
) -> Replay:
    """Replay the events after ``last_window_start`` (in time order; those already seen are skipped) through
    this metric's detector, from its ``stored`` state. Each event has ``window_start``, ``status``,
    ``version`` and the metric's value (None: the window did not measure it)."""
    stored = stored or {}
    detector = Detector(config, state=stored.get("detector"))
    forecaster = ExhaustionForecaster(limit=watched.limit) if watched.limit else None
    if forecaster is not None:
        for point in stored.get("forecast", []):
            forecaster.points.append((point[0], point[1]))
    last = last_window_start
    deviation: Deviation | None = None
    windows = int(stored.get("windows", 0))
    previous_version = stored.get("version", "")
    since_release = int(stored.get("since_release", RECENT_RELEASE))
    normal_at = stored.get("normal_at")
    for event in events:
        if last is not None and event["window_start"] <= last:
            # Already judged, or older than a window that was (a late or resent event: ingest counts those).
            continue
        value = event[watched.metric]
        if previous_version and event["version"] and event["version"] != previous_version:
            since_release = 0
        else:
            since_release = min(since_release + 1, RECENT_RELEASE)
        previous_version = event["version"] or previous_version
        last = event["window_start"]
        if value is None:
            continue
        stamp = event["window_start"].timestamp()
        decision = detector.update(stamp, float(value))
        forecast = forecaster.update(stamp, float(value)) if forecaster is not None else None
        anomalous, extra = _judge(watched, float(value), decision, forecast)
        if anomalous:
            windows += 1
            normal_at = None
            deviation = _deviation(
                watched, float(value), decision, config.threshold, windows=windows, event=event,
                version_changed=since_release < RECENT_RELEASE, extra=extra,
            )  # fmt: skip
        elif decision.closed or (not decision.incident_open and windows):
            windows = 0
            normal_at = normal_at or event["window_start"].isoformat()
    state = {
        "detector": detector.state(),
        "forecast": [list(p) for p in forecaster.points] if forecaster is not None else [],
        "windows": windows,
        "version": previous_version,
        "since_release": since_release,
        "normal_at": normal_at,
    }
    return Replay(
        state=state,
        last_window_start=last,
        deviation=deviation,
        normal_at=datetime.fromisoformat(normal_at) if normal_at else None,
    )


def _judge(watched: rules.Watched, value: float, decision: Decision, forecast: Forecast | None) -> tuple[bool, str]:
    """Is this window anomalous, and what do the resource rules add to its explanation?"""
    near_limit = watched.limit is not None and value >= rules.RESOURCE_NEAR_LIMIT
    soon = (
        forecast is not None
        and forecast.seconds_to_limit is not None
        and forecast.seconds_to_limit <= rules.EXHAUSTION_HORIZON_S
    )
    anomalous = decision.is_anomaly or (not decision.learning and (near_limit or soon))
    if anomalous and watched.limit is not None and value < rules.RESOURCE_CALM * watched.limit and not soon:
        # CPU going from 5 % to 20 % is statistically unusual and operationally nothing: a resource is a
        # problem near its limit, or on its way there.
        anomalous = False
    if not anomalous:
        return False, ""
    if soon and forecast is not None and forecast.seconds_to_limit is not None:
        minutes = forecast.seconds_to_limit / 60
        return True, f" At this rate it reaches {watched.limit:g}{watched.unit} in about {minutes:.0f} min."
    if near_limit:
        return True, f" It is within {100 - rules.RESOURCE_NEAR_LIMIT:g} points of its limit."
    return True, ""


def _deviation(
    watched: rules.Watched,
    value: float,
    decision: Decision,
    threshold: float,
    *,
    windows: int,
    event: Mapping[str, Any],
    version_changed: bool,
    extra: str,
) -> Deviation:
    expected = decision.expected if decision.expected is not None else value
    kind = watched.kind
    if watched.metric == "throughput_rps":
        kind = rules.DROP if value < expected else rules.SURGE
    return Deviation(
        watched=watched,
        kind=kind,
        value=value,
        expected=expected,
        low=decision.band_low if decision.band_low is not None else expected,
        high=decision.band_high if decision.band_high is not None else expected,
        z=decision.z,
        ratio=max(decision.z / threshold, 1.0) if decision.z else 1.0,
        windows=windows,
        status=event["status"],
        window_start=event["window_start"],
        version_changed=version_changed,
        extra=extra,
    )
