"""Point-adjusted precision, recall, F1 and detection delay, as ../shared/datasets/evaluate.py defines them.

A labelled segment counts as detected (all its points true positives) when any of its points is flagged;
flagged normal points are false positives. Pure Python.
"""

from __future__ import annotations

import math
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


# --- Pager score ---------------------------------------------------------------------------------------------
#
# The datasets' pager_score.py, in pure Python: decisions as pages. A page is an onset (a flagged row after an
# unflagged one). Each labelled segment becomes an incident window, widened so a file's windows cover about
# 10 % of it; the first page inside a window earns up to +1 (the earlier the more), a window never paged
# costs -1, a page outside every window costs the profile's false-page weight (a little less right after a
# window). The first 15 % of a file (at most 750 rows) is warm-up and does not count. The score is
# 100 · (raw - never paging) / (perfect - never paging): 0 is silence, negative is worse than silence.

PAGER_PROFILES = {"standard": 0.11, "low_fp": 0.22}


def _pager_sigmoid(x: float) -> float:
    return -1.0 if x > 3 else 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


_PAGER_LEFT = _pager_sigmoid(-1.0)


@dataclass
class PagerScore:
    raw: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PAGER_PROFILES, 0.0))
    null: float = 0.0
    perfect: float = 0.0
    incidents: int = 0
    paged: int = 0
    false_pages: int = 0
    points: int = 0  # rows after the warm-up

    def add(self, other: PagerScore) -> PagerScore:
        return PagerScore(
            {p: self.raw[p] + other.raw[p] for p in PAGER_PROFILES},
            self.null + other.null,
            self.perfect + other.perfect,
            self.incidents + other.incidents,
            self.paged + other.paged,
            self.false_pages + other.false_pages,
            self.points + other.points,
        )

    def score(self, profile: str = "standard") -> float:
        span = self.perfect - self.null
        return 100.0 * (self.raw[profile] - self.null) / (span or 1.0)

    @property
    def standard(self) -> float:
        return self.score("standard")

    @property
    def low_fp(self) -> float:
        return self.score("low_fp")

    @property
    def false_pages_per_10k(self) -> float:
        return 1e4 * self.false_pages / max(self.points, 1)


def pager_windows(labels: Sequence[int]) -> list[tuple[int, int]]:
    """Incident windows (first, last row), labelled segments widened to cover about 10 % of the file."""
    n, found = len(labels), segments(labels)
    if not found:
        return []
    want = int(0.10 * n / len(found))
    out: list[tuple[int, int]] = []
    for a, b in found:
        pad = max(0, (want - (b - a + 1)) // 2)
        lo, hi = max(0, a - pad), min(n - 1, b + pad)
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def pager(labels: Sequence[int], flags: Sequence[bool]) -> PagerScore:
    """One file's pager score (both profiles), as ../shared/datasets/pager_score.py computes it."""
    if len(labels) != len(flags):
        raise ValueError("labels and flags differ in length")
    n = len(labels)
    start = min(int(0.15 * n), 750)
    wins = pager_windows(labels)
    onsets = [i for i in range(max(start, 1), n) if flags[i] and not flags[i - 1]]
    if start == 0 and n and flags[0]:
        onsets.insert(0, 0)
    best: list[float | None] = [None] * len(wins)
    raw = dict.fromkeys(PAGER_PROFILES, 0.0)
    false_pages = 0
    k = 0
    for i in onsets:
        while k < len(wins) and wins[k][1] < i:
            k += 1
        if k < len(wins) and wins[k][0] <= i:
            lo, hi = wins[k]
            v = _pager_sigmoid(-(hi - i + 1) / (hi - lo + 1)) / _PAGER_LEFT
            current = best[k]
            best[k] = v if current is None or v > current else current
            continue
        false_pages += 1
        if k > 0:
            lo, hi = wins[k - 1]
            echo = _pager_sigmoid((i - hi) / max(hi - lo, 1))
            for profile, weight in PAGER_PROFILES.items():
                raw[profile] += weight * echo
        else:
            for profile, weight in PAGER_PROFILES.items():
                raw[profile] -= weight
    scorable = [k for k, (_, hi) in enumerate(wins) if hi >= start]
    earned = sum(b if (b := best[k]) is not None else -1.0 for k in scorable)
    return PagerScore(
        raw={p: v + earned for p, v in raw.items()},
        null=-float(len(scorable)),
        perfect=float(len(wins)),
        incidents=len(wins),
        paged=sum(1 for k in scorable if best[k] is not None),
        false_pages=false_pages,
        points=n - start,
    )
