"""The detector on synthetic series: what it must catch, and what it must leave alone."""

from __future__ import annotations

import json
import math
import random
from typing import Any

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
    assert decisions[301].is_anomaly  # the first excursion is news
    assert all(d.incident_open for d in decisions[301:340])  # and the incident stays open while it flaps
    assert not decisions[345].incident_open  # then closes once calm


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


def hourly_dips(hours: int, dip_every: int = 1, seed: int = 11) -> list[float]:
    """A minute series at 1000 ± 20 whose first three minutes of every ``dip_every``-th hour dip to 700."""
    values = noise(hours * 60, level=1000.0, sd=20.0, seed=seed)
    for hour in range(0, hours, dip_every):
        for minute in range(3):
            values[hour * 60 + minute] = 700.0
    return values


def test_a_dip_at_the_top_of_every_hour_stops_alarming_and_others_still_do() -> None:
    values = hourly_dips(30)
    values[25 * 60 + 30 : 25 * 60 + 45] = [700.0] * 15  # the same dip at half past, for longer: not the cron job
    decisions = replay(values)
    top_of_hour = [any(d.is_anomaly for d in decisions[h * 60 : h * 60 + 3]) for h in range(2, 30)]
    assert any(top_of_hour[:3])  # the first ones are news
    assert not any(top_of_hour[5:])  # the cron job is learned
    assert any(d.is_anomaly for d in decisions[25 * 60 + 30 : 25 * 60 + 45])


def test_recurring_blips_do_not_hide_a_lasting_outage() -> None:
    values = noise(3000, level=1000.0, sd=20.0, seed=12)
    for start in (400, 700, 1000, 1300, 1600, 1900):  # two-minute blips, several a day
        values[start : start + 2] = [1300.0, 1300.0]
    values[2400:2460] = [1300.0] * 60  # the same height, for an hour
    decisions = replay(values)
    assert not any(d.is_anomaly for d in decisions[1900:1902])  # the sixth blip is no news
    assert any(d.is_anomaly for d in decisions[2400:2410])  # an hour-long excursion is, within minutes


def test_an_outage_that_unfolds_over_minutes_is_caught() -> None:
    values = noise(600, level=1000.0, sd=60.0, seed=13)
    ramp = [800.0, 600.0, 400.0, 200.0, 100.0, 50.0]
    values[500:506] = ramp
    values[506:560] = [40.0] * 54  # throughput down to 4 %, reached gradually
    decisions = replay(values)
    assert any(d.is_anomaly for d in decisions[500:510])
    # A scale that learned the falling values would have widened the band until nothing was unusual.
    assert not replay(values, DetectorConfig(scale_window=60, clip=5.0))[500:560][0].is_anomaly


def test_a_metric_that_comes_online_is_one_incident_then_normal() -> None:
    values = [0.0] * 500 + noise(500, level=1000.0, sd=30.0, seed=14)  # a new workload starts reporting
    decisions = replay(values)
    assert decisions[500].opened
    assert incidents(decisions) == 1
    assert not any(d.is_anomaly for d in decisions[560:])  # the new level is learned, not alarmed for hours


def test_a_spike_at_the_same_hour_every_day_is_learned() -> None:
    hourly = noise(24 * 12, level=50.0, sd=3.0, seed=15)
    for day in range(12):
        hourly[day * 24 + 10] = 150.0  # the 10:00 batch
    hourly[9 * 24 + 15] = 150.0  # the same height at 15:00 one day
    start = 1_700_006_400.0  # a midnight, UTC
    decisions = replay(hourly, start=start, step=3600.0)
    at_ten = [decisions[day * 24 + 10].is_anomaly for day in range(1, 12)]
    assert at_ten[0]
    assert not any(at_ten[4:])
    assert decisions[9 * 24 + 15].is_anomaly


def test_what_recurs_survives_a_restart() -> None:
    values = hourly_dips(20)
    first = Detector()
    for i, v in enumerate(values[:900]):
        first.update(1.7e9 + i * MINUTE, v)
    resumed = Detector(state=json.loads(json.dumps(first.state())))  # as the database stores it
    straight = replay(values)
    rest = [resumed.update(1.7e9 + i * MINUTE, v) for i, v in enumerate(values[900:], start=900)]
    assert [d.is_anomaly for d in rest] == [d.is_anomaly for d in straight[900:]]


def test_a_version_1_snapshot_still_loads() -> None:
    old = {"v": 1, "window": [100.0 + (i % 5) for i in range(60)], "zs": [0.5] * 60, "seen": 500}
    old |= {"over": 0, "under": 0, "incident": False, "first_ts": 1.7e9, "last_ts": 1.7e9 + 499 * MINUTE}
    old |= {"interval": MINUTE, "levels": {}}
    detector = Detector(state=old)
    assert not detector.update(1.7e9 + 500 * MINUTE, 102.0).is_anomaly
    assert detector.update(1.7e9 + 501 * MINUTE, 400.0).is_anomaly


def test_a_repeated_or_older_timestamp_is_judged_but_changes_nothing() -> None:
    values = noise(600)
    values[500] = 250.0
    straight = replay(values)
    detector = Detector()
    decisions = []
    for i, v in enumerate(values):
        stamp = 1.7e9 + i * MINUTE
        decisions.append(detector.update(stamp, v))
        if i in (100, 300, 499):
            again = detector.update(stamp, 5000.0)  # the same window resent, with a wild value
            older = detector.update(stamp - 30.0, 5000.0)  # half an interval late
            for late in (again, older):
                assert late.late and not late.is_anomaly and not late.opened
                assert late.z > 50  # judged against the current baseline: it would be anomalous
    # Learned nothing from them: the same decisions, scores and state as without them.
    assert [d.is_anomaly for d in decisions] == [d.is_anomaly for d in straight]
    assert decisions[500].score == pytest.approx(straight[500].score)
    assert decisions[500].opened
    assert detector.state()["late"] == 6
    assert detector.state()["seen"] == len(values)


def test_a_late_point_cannot_count_towards_min_duration() -> None:
    values = noise(500)
    values[400] = 200.0
    detector = Detector(DetectorConfig(min_duration=2))
    for i, v in enumerate(values[:401]):
        detector.update(1.7e9 + i * MINUTE, v)
    assert not detector.update(1.7e9 + 400 * MINUTE, 210.0).is_anomaly  # the same window again
    assert not detector.update(1.7e9 + 401 * MINUTE, 100.0).is_anomaly


def test_ratio_and_level_say_how_far_past_the_bar_a_point_went() -> None:
    values = hourly_dips(30)
    decisions = replay(values)
    first_dip = next(d for d in decisions if d.is_anomaly)
    assert first_dip.level == "page" and first_dip.ratio >= 1.0
    assert first_dip.score == pytest.approx(first_dip.ratio / (1 + first_dip.ratio))
    # Later top-of-the-hour dips are past the base threshold but recur: notices, not pages.
    late_dips = [d for h in range(20, 30) for d in decisions[h * 60 : h * 60 + 3]]
    assert not any(d.is_anomaly for d in late_dips)
    assert any(d.level == "notice" and d.z >= 5.0 and d.ratio < 1.0 for d in late_dips)
    quiet = decisions[20 * 60 + 30]
    assert quiet.level == "" and quiet.ratio < 1.0


def test_a_version_2_snapshot_still_loads_and_is_saved_as_version_3() -> None:
    first = Detector()
    values = hourly_dips(6)
    for i, v in enumerate(values[:300]):
        first.update(1.7e9 + i * MINUTE, v)
    old = first.state()
    old["v"] = 2
    del old["late"]  # what version 2 did not have
    resumed = Detector(state=json.loads(json.dumps(old)))
    assert resumed.state()["v"] == 3 and resumed.state()["late"] == 0
    straight = Detector(state=first.state())
    rest = [(i, v) for i, v in enumerate(values[300:], start=300)]
    assert [resumed.update(1.7e9 + i * MINUTE, v).is_anomaly for i, v in rest] == [
        straight.update(1.7e9 + i * MINUTE, v).is_anomaly for i, v in rest
    ]


def _feed(detector: Detector, values: list[float], start: float = 0.0, step: float = 10.0) -> list[Any]:
    return [detector.update(start + i * step, v) for i, v in enumerate(values)]


def test_a_level_past_the_degraded_bound_is_never_learned_while_its_incident_lasts() -> None:
    """The demo answered in 800 ms for three minutes and the detector relearned it as normal (its signal
    resolved itself while the service stayed slow). With the component's bounds, it never does."""
    rng = random.Random(3)
    normal = [30 + rng.gauss(0, 2) for _ in range(200)]
    slow = [800 + rng.gauss(0, 20) for _ in range(300)]  # ten relearn periods, two baseline windows
    bounded = Detector(DetectorConfig(direction="up", abs_floor=20, accept_level=500, bad_level=1500))
    decisions = _feed(bounded, normal + slow)
    assert all(d.incident_open for d in decisions[len(normal) :])
    unbounded = Detector(DetectorConfig(direction="up", abs_floor=20))
    decisions = _feed(unbounded, normal + slow)
    assert not decisions[-1].incident_open  # without bounds it learns the slow level and closes (the old bug)


def test_a_level_past_the_unhealthy_bound_stays_anomalous() -> None:
    rng = random.Random(4)
    normal = [0.01 + abs(rng.gauss(0, 0.002)) for _ in range(200)]
    failing = [0.4 + rng.gauss(0, 0.01) for _ in range(300)]
    detector = Detector(DetectorConfig(direction="up", abs_floor=0.005, accept_level=0.02, bad_level=0.10))
    decisions = _feed(detector, normal + failing)
    assert all(d.is_anomaly for d in decisions[len(normal) + 1 :])  # pages stay open, the chain keeps going


def test_a_level_within_the_bounds_is_relearned_as_before() -> None:
    rng = random.Random(5)
    values = [30 + rng.gauss(0, 2) for _ in range(200)] + [250 + rng.gauss(0, 4) for _ in range(200)]
    detector = Detector(DetectorConfig(direction="up", abs_floor=20, accept_level=500, bad_level=1500))
    decisions = _feed(detector, values)
    assert any(d.incident_open for d in decisions[200:240])
    assert not decisions[-1].incident_open  # 250 ms is a level an operator accepts: it becomes the normal
