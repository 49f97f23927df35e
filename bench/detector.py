"""The production detector, default settings, on the labelled datasets in ../shared/datasets.

Defaults were chosen on the tune halves only; the validate halves are reported as they come. Scored with
the datasets' own point-adjusted definition (anomalies.scoring, checked against their evaluate.py in
tests). ASD: one detector per metric, warmed up on the unlabelled history, and a row is anomalous when
any of the server's 19 metrics is. Also measured: replay speed, in memory and CSV to CSV.
"""

from __future__ import annotations

import csv
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from anomalies import backtest
from anomalies.detector import Detector, DetectorConfig
from anomalies.scoring import Score, point_adjusted

ROOT = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("CORE314_DATASETS", ROOT.parent / "shared" / "datasets"))

# From ../shared/datasets/README.md: the naive rolling z-score at the threshold searched on tune.
BASELINE = {
    "cmd/tune": (0.874, 94, 152, 311, 7.28),
    "cmd/validate": (0.683, 82, 129, 384, 2.00),
    "asd/tune": (0.825, 27, 39, 282, 6.22),
    "asd/validate": (0.786, 29, 37, 277, 7.00),
}


@dataclass
class PartResult:
    part: str
    score: Score
    points: int


def _load(path: Path) -> tuple[list[float], list[list[float]], list[int]]:
    with path.open() as handle:
        reader = csv.reader(handle)
        header = next(reader)
        metric_cols = [i for i, h in enumerate(header) if h not in {"timestamp", "label"}]
        has_label = "label" in header
        stamps, columns, labels = [], [[] for _ in metric_cols], []
        for row in reader:
            stamps.append(float(row[0]))
            for k, i in enumerate(metric_cols):
                columns[k].append(float(row[i]))
            if has_label:
                labels.append(int(row[header.index("label")]))
    return stamps, columns, labels


def score_part(part: str, config: DetectorConfig) -> PartResult:
    total = Score()
    points = 0
    history_dir = DATASETS / part.split("/")[0] / "history"
    for path in sorted((DATASETS / part).glob("*.csv")):
        stamps, columns, labels = _load(path)
        detectors = [Detector(config) for _ in columns]
        history = history_dir / path.name
        if history.exists():
            h_stamps, h_columns, _ = _load(history)
            for detector, values in zip(detectors, h_columns, strict=True):
                for stamp, value in zip(h_stamps, values, strict=True):
                    detector.update(stamp, value)
        flags = [False] * len(stamps)
        for detector, values in zip(detectors, columns, strict=True):
            for i, (stamp, value) in enumerate(zip(stamps, values, strict=True)):
                if detector.update(stamp, value).is_anomaly:
                    flags[i] = True
        total = total.add(point_adjusted(labels, flags))
        points += len(stamps) * len(columns)
    return PartResult(part, total, points)


def replay_speed(n: int = 1_000_000) -> tuple[float, float]:
    rng = random.Random(1)
    stamps = [1.7e9 + i * 60.0 for i in range(n)]
    values = [100 + 10 * math.sin(i / 240) + rng.gauss(0, 3) for i in range(n)]
    step = Detector().step
    began = time.perf_counter()
    for stamp, value in zip(stamps, values, strict=True):
        step(stamp, value)
    memory_rate = n / (time.perf_counter() - began)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.csv"
        with source.open("w") as handle:
            handle.write("timestamp,value\n")
            handle.writelines(f"{int(s)},{v:.3f}\n" for s, v in zip(stamps, values, strict=True))
        result = backtest.run(source, Path(folder) / "out.csv")
    return memory_rate, result.points_per_second


def run() -> str:
    config = DetectorConfig()
    if not DATASETS.exists():
        return f"## Anomaly detector\n\nSkipped: no datasets at `{DATASETS}` (set CORE314_DATASETS).\n"
    rows = []
    for part in ["cmd/tune", "cmd/validate", "asd/tune", "asd/validate"]:
        print(f"[detector] {part}…", flush=True)
        result = score_part(part, config)
        s = result.score
        base = BASELINE[part]
        delay = "n/a" if s.mean_delay is None else f"{s.mean_delay:.2f}"
        rows.append(
            f"| {part} | **{s.f1:.3f}** | {s.precision:.3f} | {s.recall:.3f} | {s.detected}/{s.segments} | {s.fp:,} | "
            f"{delay} | {s.raw_f1:.3f} | {base[0]:.3f} | {base[1]}/{base[2]} | {base[3]} | {base[4]:.2f} |"
        )
    print("[detector] replay speed…", flush=True)
    memory_rate, csv_rate = replay_speed()
    lines = [
        "## Anomaly detector",
        "",
        "`anomalies/detector.py` with its default settings (chosen on the tune halves only), scored with the",
        "datasets' point-adjusted definition. Baseline: the naive rolling z-score of `../shared/datasets/README.md`",
        "at its threshold searched on tune (the honest floor). ASD: a row counts as anomalous when any of the",
        "server's 19 metrics is; detectors warm up on `asd/history/`.",
        "",
        "| part | F1 (PA) | P | R | segments | FP points | delay (pts) | unadjusted F1 "
        "| baseline F1 | baseline segments | baseline FP | baseline delay |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Targets (issue 4): F1 ≥ 0.75 on cmd/validate with no more FP points than the baseline's 384.",
        "",
        "| replay | points/s | target |",
        "|---|---|---|",
        f"| detector, in memory (`Detector.step`) | {memory_rate:,.0f} | ≥ 200,000 |",
        f"| `backtest` CSV → CSV, 1 M points | {csv_rate:,.0f} | ≥ 200,000 |",
        "",
    ]
    return "\n".join(lines)
