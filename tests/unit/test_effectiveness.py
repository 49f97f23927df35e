"""Verdicts from the metric before an action and the windows that followed (pure)."""

from __future__ import annotations

import pytest

from recovery.effectiveness import distance, judge

BAND = {"direction": "up", "low": 0.0, "high": 0.03, "expected": 0.01}


@pytest.mark.parametrize(
    ("after", "verdict", "score"),
    [
        ([0.40, 0.02, 0.01, 0.01], "resolved", 1.0),  # the last windows count
        ([0.30, 0.20, 0.15], "improved", 0.495),
        ([0.39, 0.41, 0.40], "no_effect", 0.0),
        ([0.60, 0.70, 0.65], "worse", 0.0),
        ([], "no_effect", 0.0),
    ],
)
def test_verdicts(after: list[float], verdict: str, score: float) -> None:
    judged = judge(before=0.40, after=after, **BAND)
    assert judged.verdict == verdict
    assert judged.score == pytest.approx(score, abs=0.01)


def test_direction_matters() -> None:
    # availability falls when it is bad: the distance is below the band
    assert distance(0.5, direction="down", low=0.99, high=1.0, expected=1.0) == pytest.approx(0.49)
    assert distance(1.0, direction="down", low=0.99, high=1.0, expected=1.0) == 0
    assert judge(before=0.5, after=[0.995], direction="down", low=0.99, high=1.0, expected=1.0).verdict == "resolved"
    # throughput watches both ways
    assert distance(3.0, direction="both", low=10.0, high=20.0, expected=15.0) == 7.0


def test_normal_before_and_abnormal_after_is_worse() -> None:
    assert judge(before=0.01, after=[0.2], **BAND).verdict == "worse"
    assert judge(before=None, after=[0.2], **BAND).note == "nothing was measured before the action"
