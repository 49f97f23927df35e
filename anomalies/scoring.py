"""Point-adjusted precision, recall, F1 and detection delay, as ../shared/datasets/evaluate.py defines them.

A labelled segment counts as detected (all its points true positives) when any of its points is flagged;
flagged normal points are false positives. Pure Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Score:
    points: int = 0
    segments: int = 0
    detected: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    delays: list[int] = field(default_factory=list)
    raw_tp: int = 0
    raw_fp: int = 0
    raw_fn: int = 0

    def add(self, other: Score) -> Score:
        return Score(
            self.points + other.points,
            self.segments + other.segments,
            self.detected + other.detected,
            self.tp + other.tp,
            self.fp + other.fp,
            self.fn + other.fn,
            self.delays + other.delays,
            self.raw_tp + other.raw_tp,
            self.raw_fp + other.raw_fp,
            self.raw_fn + other.raw_fn,
        )

    @staticmethod
    def _f1(p: float, r: float) -> float:
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return self._f1(self.precision, self.recall)

    @property
    def mean_delay(self) -> float | None:
        return sum(self.delays) / len(self.delays) if self.delays else None

    @property
    def raw_f1(self) -> float:
        p = self.raw_tp / (self.raw_tp + self.raw_fp) if self.raw_tp + self.raw_fp else 0.0
        r = self.raw_tp / (self.raw_tp + self.raw_fn) if self.raw_tp + self.raw_fn else 0.0
        return self._f1(p, r)


def segments(labels: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal runs of 1s as (start, end) inclusive indexes."""
    found = []
    start = None
    for i, label in enumerate(labels):
        if label and start is None:
            start = i
        elif not label and start is not None:
            found.append((start, i - 1))
            start = None
    if start is not None:
        found.append((start, len(labels) - 1))
    return found


def point_adjusted(labels: Sequence[int], flags: Sequence[bool]) -> Score:
    if len(labels) != len(flags):
        raise ValueError("labels and flags differ in length")
    score = Score(points=len(labels))
    inside = [False] * len(labels)
    for start, end in segments(labels):
        score.segments += 1
        hit = next((i for i in range(start, end + 1) if flags[i]), None)
        length = end - start + 1
        if hit is None:
            score.fn += length
        else:
            score.detected += 1
            score.tp += length
            score.delays.append(hit - start)
        for i in range(start, end + 1):
            inside[i] = True
    for label, flag, within in zip(labels, flags, inside, strict=True):
        if flag and not within:
            score.fp += 1
        if flag and label:
            score.raw_tp += 1
        elif flag:
            score.raw_fp += 1
        elif label:
            score.raw_fn += 1
    return score
