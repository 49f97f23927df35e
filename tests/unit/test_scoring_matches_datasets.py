"""Our point-adjusted scorer agrees with the datasets' own evaluate.py on random labels and flags."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from anomalies.scoring import point_adjusted

EVALUATE = Path(settings.BASE_DIR).parent / "shared" / "datasets" / "evaluate.py"


@pytest.mark.skipif(not EVALUATE.exists(), reason="../shared/datasets is not beside the checkout")
def test_it_agrees_with_evaluate_py() -> None:
    spec = importlib.util.spec_from_file_location("datasets_evaluate", EVALUATE)
    assert spec and spec.loader
    evaluate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate)
    rng = random.Random(11)
    for _ in range(50):
        n = rng.randint(20, 300)
        labels = [0] * n
        for _ in range(rng.randint(0, 5)):
            start = rng.randrange(n)
            for i in range(start, min(n, start + rng.randint(1, 20))):
                labels[i] = 1
        flags = [rng.random() < 0.1 for _ in range(n)]
        theirs = evaluate.finish(evaluate.score_series(np.array(labels), np.array(flags)))
        ours = point_adjusted(labels, flags)
        assert (ours.tp, ours.fp, ours.fn) == (theirs["tp"], theirs["fp"], theirs["fn"])
        assert ours.detected == theirs["n_detected"]
        if theirs["tp"] + theirs["fp"] and theirs["tp"] + theirs["fn"]:  # theirs is NaN where undefined
            assert ours.f1 == pytest.approx(theirs["f1"])
