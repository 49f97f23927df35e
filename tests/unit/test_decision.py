"""Detection's decision for one metric, without a database: events in, new state and incident out."""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from anomalies import decision, rules

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=10)


def events(metric: str, values: list[float | None], start: int = 0, version: str = "v1") -> list[dict[str, Any]]:
    """One event per 10 s window from window ``start`` on, with ``metric`` following ``values``."""
    return [
        {"window_start": T0 + (start + i) * STEP, "status": "healthy", "version": version, metric: value}
        for i, value in enumerate(values)
    ]


def normal(n: int, level: float, sd: float, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [max(0.0, rng.gauss(level, sd)) for _ in range(n)]


def replay(
    metric: str,
    new: list[dict[str, Any]],
    before: decision.Replay | None = None,
    watched: rules.Watched | None = None,
) -> decision.Replay:
    watched = watched or rules.BY_METRIC[metric]
    return decision.metric_replay(
        watched=watched,
        config=decision.config_for(watched=watched),
        stored=before.state if before else None,
        last_window_start=before.last_window_start if before else None,
        events=new,
    )


def test_a_spike_opens_a_latency_incident_with_its_explanation() -> None:
    result = replay("latency_p95_ms", events("latency_p95_ms", [*normal(60, 120, 6), 2400.0]))
    deviation = result.deviation
    assert deviation is not None
    assert (deviation.kind, deviation.value, deviation.windows) == ("latency_spike", 2400.0, 1)
    assert 100 < deviation.expected < 140 and deviation.low < deviation.expected < deviation.high < 2400
    assert deviation.window_start == T0 + 60 * STEP and deviation.status == "healthy"
    assert deviation.ratio > 4 and deviation.severity == "critical"
    assert deviation.explanation.startswith("p95 latency 2,400.0 ms vs expected")
    assert deviation.recommended_actions[0]["action"] == "restart_function"
    assert result.normal_at is None and result.last_window_start == T0 + 60 * STEP


def test_normal_values_open_nothing_and_the_state_is_stored_as_json() -> None:
    result = replay("latency_p95_ms", events("latency_p95_ms", normal(200, 120, 6)))
    assert result.deviation is None and result.normal_at is None
    assert result.state["windows"] == 0 and result.state["version"] == "v1"
    assert json.loads(json.dumps(result.state)) == result.state


def test_throughput_below_its_baseline_is_a_drop_and_above_it_a_surge() -> None:
    history = normal(60, 100, 3)
    drop = replay("throughput_rps", events("throughput_rps", [*history, 5.0])).deviation
    surge = replay("throughput_rps", events("throughput_rps", [*history, 400.0])).deviation
    assert drop is not None and drop.kind == rules.DROP and drop.value < drop.expected
    assert surge is not None and surge.kind == rules.SURGE and surge.value > surge.expected
    assert "below its learned baseline" in drop.explanation
    assert drop.recommended_actions[0]["action"] == "restart_function"
    assert surge.recommended_actions[0]["action"] == "scale_up"


def test_a_resource_below_half_its_limit_is_calm_however_unusual() -> None:
    values = [*normal(60, 5.0, 0.5), 21.0, 22.0, 21.5]  # CPU 5 % → 21 %: many deviations, nowhere near 100 %
    assert replay("cpu_percent", events("cpu_percent", values)).deviation is None
    # The same jump on a metric without a limit is an incident: it is the calm rule that holds it back.
    unlimited = dataclasses.replace(rules.BY_METRIC["cpu_percent"], limit=None)
    assert replay("cpu_percent", events("cpu_percent", values), watched=unlimited).deviation is not None


def test_a_resource_below_half_its_limit_is_an_incident_when_forecast_to_reach_it_soon() -> None:
    climb = [20 + 0.5 * i for i in range(40)]  # +0.5 points a window: 100 % in about 20 minutes
    result = replay("cpu_percent", events("cpu_percent", climb))
    deviation = result.deviation
    assert deviation is not None and deviation.kind == rules.RESOURCE
    assert deviation.value < rules.RESOURCE_CALM * 100
    assert deviation.extra.startswith(" At this rate it reaches 100% in about ")
    assert deviation.explanation.endswith(" min.")
    assert len(result.state["forecast"]) == 30  # the forecaster's points are kept for the next run


def test_a_resource_near_its_limit_says_so() -> None:
    deviation = replay("memory_percent", events("memory_percent", [*normal(60, 60, 1), 95.0])).deviation
    assert deviation is not None and deviation.kind == rules.RESOURCE
    assert deviation.extra == " It is within 10 points of its limit."
    assert deviation.explanation.endswith(" It is within 10 points of its limit.")


def test_a_release_within_three_windows_marks_version_changed() -> None:
    steady = events("error_rate", [0.01] * 40)
    right_after = replay("error_rate", steady + events("error_rate", [0.4, 0.4], start=40, version="v2")).deviation
    assert right_after is not None and right_after.version_changed is True
    assert right_after.recommended_actions[0]["action"] == "rollback_deployment"
    later = replay("error_rate", steady + events("error_rate", [0.01] * 5 + [0.4, 0.4], start=40, version="v2"))
    assert later.deviation is not None and later.deviation.version_changed is False
    assert later.deviation.recommended_actions[0]["action"] != "rollback_deployment"
    assert later.state["version"] == "v2"


def test_one_bad_window_of_an_error_rate_is_not_yet_an_incident() -> None:
    assert replay("error_rate", events("error_rate", [*[0.01] * 40, 0.4])).deviation is None


def test_back_to_normal_sets_normal_at_and_a_new_deviation_clears_it() -> None:
    spike = replay("latency_p95_ms", events("latency_p95_ms", [*normal(60, 120, 6), 2500.0, 2600.0]))
    assert spike.deviation is not None and spike.deviation.windows == 2 and spike.normal_at is None
    calm = events("latency_p95_ms", normal(4, 120, 6, seed=9), start=62)
    recovered = replay("latency_p95_ms", calm, before=spike)
    assert recovered.deviation is None and recovered.state["windows"] == 0
    assert recovered.normal_at in [e["window_start"] for e in calm]
    assert recovered.state["normal_at"] == recovered.normal_at.isoformat()
    again = replay("latency_p95_ms", events("latency_p95_ms", [2700.0], start=66), before=recovered)
    assert again.deviation is not None and again.normal_at is None and again.state["normal_at"] is None


def test_events_already_seen_are_skipped() -> None:
    seen = events("latency_p95_ms", [*normal(60, 120, 6), 2400.0])
    first = replay("latency_p95_ms", seen)
    assert first.deviation is not None
    second = replay("latency_p95_ms", seen, before=first)
    assert second.deviation is None
    assert second.state == first.state and second.last_window_start == first.last_window_start


def test_a_window_without_the_metric_is_read_but_not_judged() -> None:
    first = replay("latency_p95_ms", events("latency_p95_ms", normal(60, 120, 6)))
    result = replay("latency_p95_ms", events("latency_p95_ms", [None], start=60, version="v2"), before=first)
    assert result.deviation is None and result.last_window_start == T0 + 60 * STEP
    assert result.state["detector"] == first.state["detector"] and result.state["version"] == "v2"


def test_overrides_change_the_detector_and_none_keeps_the_default() -> None:
    watched = rules.BY_METRIC["latency_p95_ms"]
    default = decision.config_for(watched=watched)
    assert (default.direction, default.abs_floor) == ("up", 20.0)
    tuned = decision.config_for(watched=watched, overrides={"threshold": 8.0, "window": None, "enabled": False})
    assert tuned == default.replace(threshold=8.0)


def test_it_imports_nothing_from_django() -> None:
    code = "import sys, anomalies.decision; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"
