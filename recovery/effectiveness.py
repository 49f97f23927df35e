"""Did an action help? Pure Python: compare the signal's metric before the action with what followed.

The distance that matters is how far the metric is outside its normal band (or from its expected value when
no band is known). Back inside → resolved; at least 30 % of the distance closed → improved; 20 % or more
further out → worse; otherwise no effect. The score is the share of the distance closed, 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean

IMPROVED_AT = 0.3
WORSE_AT = -0.2
# The last few windows count: recovery takes a window or two to show.
TAIL = 3


@dataclass(frozen=True)
class Judgement:
    verdict: str
    score: float
    before: float | None
    after: float | None
    note: str


def distance(value: float, *, direction: str, low: float | None, high: float | None, expected: float | None) -> float:
    """How far ``value`` is on the bad side of normal (0 when normal)."""
    up = max(0.0, value - (high if high is not None else expected if expected is not None else value))
    down = max(0.0, (low if low is not None else expected if expected is not None else value) - value)
    if direction == "up":
        return up
    if direction == "down":
        return down
    return max(up, down)


def judge(
    *,
    before: float | None,
    after: list[float],
    direction: str,
    low: float | None,
    high: float | None,
    expected: float | None,
) -> Judgement:
    if before is None:
        return Judgement("no_effect", 0.0, None, None, "nothing was measured before the action")
    if not after:
        return Judgement("no_effect", 0.0, before, None, "no health events arrived after the action")
    now = fmean(after[-TAIL:])
    gap_before = distance(before, direction=direction, low=low, high=high, expected=expected)
    gap_after = distance(now, direction=direction, low=low, high=high, expected=expected)
    if gap_after == 0:
        return Judgement("resolved", 1.0, before, now, "back inside its normal band")
    if gap_before == 0:
        return Judgement("worse", 0.0, before, now, "was normal before the action and is not now")
    closed = 1 - gap_after / gap_before
    if closed >= IMPROVED_AT:
        return Judgement("improved", round(closed, 3), before, now, f"{closed:.0%} of the way back to normal")
    if closed <= WORSE_AT:
        return Judgement("worse", 0.0, before, now, f"{-closed:.0%} further from normal")
    return Judgement("no_effect", round(max(closed, 0.0), 3), before, now, "no meaningful change")
