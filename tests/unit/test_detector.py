"""The detector on synthetic series: what it must catch, and what it must leave alone."""

from __future__ import annotations

import math
import random

import pytest

from anomalies.detector import Detector, DetectorConfig
from anomalies.exhaustion import ExhaustionForecaster

MINUTE = 60.0


def replay(values: list[float], config: DetectorConfig | None = None, start: float = 1.7e9, step: float = MINUTE):
    detector = Detector(config)
    return [detector.update(start + i * step, v) for i, v in enumerate(values)]


def noise(n: int, level: float = 100.0, sd: float = 5.0, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(level, sd) for _ in range(n)]


def incidents(decisions) -> int:
    return sum(1 for d in decisions if d.opened)


def test_pure_noise_raises_nothing() -> None:
    decisions = replay(noise(5000))
    assert incidents(decisions) == 0
    assert not any(d.is_anomaly for d in decisions)


def test_it_learns_before_it_judges() -> None:
    decisions = replay(noise(30))
    assert all(d.learning for d in decisions[:24])
    assert not decisions[24].learning


def test_a_spike_is_flagged_at_once() -> None:
    values = noise(500)
    values[400] = 200.0
    decisions = replay(values)
    assert decisions[400].is_anomaly and decisions[400].opened
    assert decisions[400].score > 0.5
    assert decisions[400].band_low < decisions[400].expected < decisions[400].band_high < 200
    assert incidents(decisions) == 1
    assert not any(d.is_anomaly for d in decisions[401:])  # one spike does not drag the baseline


def test_a_step_opens_one_incident_and_is_then_learned_as_the_new_normal() -> None:
    values = noise(400) + noise(600, level=160.0, seed=2)
    decisions = replay(values)
    assert decisions[400].opened
    assert incidents(decisions) == 1
    assert not any(d.is_anomaly for d in decisions[700:])  # drift: the new level is normal now


def test_direction_limits_what_counts() -> None:
    values = noise(500)
    values[300] = 10.0  # a dip
    assert not replay(values, DetectorConfig(direction="up"))[300].is_anomaly
    assert replay(values, DetectorConfig(direction="down"))[300].is_anomaly


def test_a_flapping_metric_makes_one_incident_not_ten() -> None:
    values = noise(300)
    for i in range(300, 340):
        values.append(200.0 if i % 2 else 100.0)
    decisions = replay(values + noise(200, seed=3))
    assert incidents(decisions) == 1
    flagged = sum(d.is_anomaly for d in decisions[300:340])
    assert flagged >= 5  # the excursions themselves are still flagged while the incident is open


def test_one_noisy_point_needs_company_when_min_duration_asks_for_it() -> None:
    values = noise(500)
    values[400] = 200.0
    assert not any(d.is_anomaly for d in replay(values, DetectorConfig(min_duration=2)))
    values[401] = 210.0
    assert replay(values, DetectorConfig(min_duration=2))[401].is_anomaly


def daily(days: int, step: float = 600.0, amplitude: float = 50.0, seed: int = 4) -> list[float]:
    rng = random.Random(seed)
    per_day = int(86_400 / step)
    return [100 + amplitude * math.sin(2 * math.pi * i / per_day) + rng.gauss(0, 3) for i in range(days * per_day)]


def test_a_daily_cycle_is_expected_not_anomalous() -> None:
    decisions = replay(daily(10), step=600.0)
    per_day = 144
    assert incidents(decisions[3 * per_day :]) == 0


def test_an_anomaly_inside_a_daily_cycle_is_caught() -> None:
    values = daily(10)
    per_day = 144
    at = 7 * per_day + 36  # the daily peak: a value normal at night would be anomalous here
    values[at] -= 60.0  # a dip to the night-time level, in the middle of the day's high
    decisions = replay(values, step=600.0)
    assert decisions[at].is_anomaly
    assert incidents(decisions[3 * per_day :]) == 1


def test_state_survives_a_restart() -> None:
    values = noise(600)
    values[500] = 250.0
    straight = replay(values)
    first = Detector()
    for i, v in enumerate(values[:450]):
        first.update(1.7e9 + i * MINUTE, v)
    resumed = Detector(state=first.state())
    rest = [resumed.update(1.7e9 + i * MINUTE, v) for i, v in enumerate(values[450:], start=450)]
    assert [d.is_anomaly for d in rest] == [d.is_anomaly for d in straight[450:]]
    # The running sums are recomputed exactly on load, so the score agrees to rounding.
    assert rest[50].score == pytest.approx(straight[500].score, rel=1e-6)


def test_irregular_sampling_is_fine() -> None:
    rng = random.Random(5)
    stamp, detector, flagged = 1.7e9, Detector(), []
    for i in range(2000):
        stamp += rng.choice([10, 30, 60, 300])
        flagged.append(detector.update(stamp, 500.0 if i == 1500 else rng.gauss(100, 5)).is_anomaly)
    assert flagged[1500] and sum(flagged) == 1


def test_a_slow_leak_is_forecast_to_reach_its_limit() -> None:
    forecaster = ExhaustionForecaster(limit=100.0, window=30)
    rng = random.Random(6)
    forecast = None
    for i in range(60):  # memory grows 0.5 % a minute from 40 %
        forecast = forecaster.update(i * 60.0, 40 + 0.5 * i + rng.gauss(0, 0.3))
    assert forecast is not None and forecast.seconds_to_limit is not None
    # At 69.5 % now and 0.5 %/min, the limit is about 61 minutes away.
    assert 50 * 60 < forecast.seconds_to_limit < 72 * 60


def test_a_flat_noisy_resource_has_no_forecast() -> None:
    forecaster = ExhaustionForecaster(limit=100.0, window=30)
    rng = random.Random(7)
    forecast = None
    for i in range(60):
        forecast = forecaster.update(i * 60.0, 40 + rng.gauss(0, 2))
    assert forecast is not None and forecast.seconds_to_limit is None


def test_bad_settings_are_named() -> None:
    assert DetectorConfig().problems() == []
    problems = DetectorConfig(window=2, close_threshold=9, direction="sideways").problems()
    assert any("window" in p for p in problems)
    assert any("close_threshold" in p for p in problems)
    assert any("direction" in p for p in problems)
