"""Our pager score agrees with the datasets' own pager_score.py, and behaves as its docstring says."""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from pathlib import Path

import pytest

from anomalies.scoring import PagerScore, pager

DATASETS = Path(os.environ.get("CORE314_DATASETS", Path(__file__).resolve().parents[3] / "shared" / "datasets"))
PAGER_SCORE = DATASETS / "pager_score.py"


def random_case(rng: random.Random) -> tuple[list[int], list[bool]]:
    n = rng.randint(30, 2000)
    labels = [0] * n
    for _ in range(rng.randint(0, 6)):
        start = rng.randrange(n)
        for i in range(start, min(n, start + rng.randint(1, 40))):
            labels[i] = 1
    rate = rng.choice([0.002, 0.01, 0.05, 0.2])
    flags = [rng.random() < rate for _ in range(n)]
    for a in range(n):  # some flags on the labels, early or late, so windows are paged at various places
        if labels[a] and (a == 0 or not labels[a - 1]) and rng.random() < 0.6:
            flags[min(n - 1, a + rng.randint(-10, 10))] = True
    return labels, flags


@pytest.mark.skipif(not PAGER_SCORE.exists(), reason="../shared/datasets is not beside the checkout")
def test_it_agrees_with_pager_score_py() -> None:
    import numpy as np

    sys.path.insert(0, str(DATASETS))
    try:
        spec = importlib.util.spec_from_file_location("datasets_pager_score", PAGER_SCORE)
        assert spec and spec.loader
        theirs_module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(theirs_module)
    finally:
        sys.path.remove(str(DATASETS))
    rng = random.Random(7)
    total = PagerScore()
    raw = {"standard": 0.0, "low_fp": 0.0}
    null = perfect = 0.0
    for _ in range(60):
        labels, flags = random_case(rng)
        ours = pager(labels, flags)
        total = total.add(ours)
        for profile, weight in theirs_module.PROFILES.items():
            theirs = theirs_module.score_file(np.array(labels), np.array(flags), weight)
            assert ours.raw[profile] == pytest.approx(theirs["raw"])
            assert (ours.null, ours.perfect) == (theirs["null"], theirs["perfect"])
            assert (ours.incidents, ours.paged, ours.false_pages, ours.points) == (
                theirs["incidents"], theirs["paged"], theirs["false_pages"], theirs["points"],
            )  # fmt: skip
            raw[profile] += theirs["raw"]
        null += ours.null
        perfect += ours.perfect
    for profile in raw:
        assert total.score(profile) == pytest.approx(100 * (raw[profile] - null) / (perfect - null))


def test_never_paging_scores_zero_and_the_labels_score_high() -> None:
    labels = [0] * 1000
    for start in (300, 600, 900):
        labels[start : start + 5] = [1] * 5
    silent = pager(labels, [False] * 1000)
    assert silent.standard == 0 and silent.paged == 0 and silent.incidents == 3
    perfect = pager(labels, [bool(x) for x in labels])
    assert perfect.paged == 3 and perfect.false_pages == 0 and 80 < perfect.standard < 100


def test_a_false_page_costs_twice_as_much_under_low_fp() -> None:
    labels = [0] * 1000
    labels[500:505] = [1] * 5
    flags = [bool(x) for x in labels]
    clean = pager(labels, flags)
    flags[200] = True  # outside every window, before the incident: the full weight
    noisy = pager(labels, flags)
    assert noisy.false_pages == 1
    assert clean.standard - noisy.standard == pytest.approx(100 * 0.11 / 2)
    assert clean.low_fp - noisy.low_fp == pytest.approx(100 * 0.22 / 2)


def test_a_page_is_an_onset_and_the_warm_up_does_not_count() -> None:
    labels = [0] * 1000
    flags = [False] * 1000
    flags[100:140] = [True] * 40  # in the warm-up (first 150 rows): free
    flags[400:460] = [True] * 60  # one long run: one page
    flags[700] = flags[702] = True  # two onsets
    assert pager(labels, flags).false_pages == 3
