"""The production detector, default settings, on the labelled datasets in ../shared/datasets.

Defaults were chosen on the tune halves only; the validate halves are reported as they come. Each series is
watched the way production watches a metric of its kind (``anomalies.rules.WATCHED``): latency and error
rates count upward deviations only, throughput both ways. Scored with the datasets' own point-adjusted
definition (anomalies.scoring, checked against their evaluate.py in tests). ASD: one detector per metric
(both directions: the metrics are unnamed), warmed up on the unlabelled history, and a row is anomalous
when any of the server's 19 metrics is. Also measured: replay speed, in memory and CSV to CSV.
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


# The catalogue's kind of a series → the direction production watches that kind of metric in.
# "availability" here is a count of HTTP 503 answers: an error count, so upward like error rates.
DIRECTION = {"latency": "up", "error_rate": "up", "availability": "up", "throughput": "both"}


def kinds() -> dict[str, str]:
    """File name → the catalogue's kind of series."""
    with (DATASETS / "catalog.csv").open() as handle:
        return {Path(row["file"]).name: row["kind"] for row in csv.DictReader(handle)}


def score_part(part: str, config: DetectorConfig) -> PartResult:
    total = Score()
    points = 0
    history_dir = DATASETS / part.split("/")[0] / "history"
    kind_of = kinds()
    for path in sorted((DATASETS / part).glob("*.csv")):
        stamps, columns, labels = _load(path)
        direction = DIRECTION.get(kind_of.get(path.name, ""), config.direction)
        detectors = [Detector(config.replace(direction=direction)) for _ in columns]
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


# Each mechanism switched off (the rest at their defaults), and each default nudged: what the validation
# score owes to each part, and how close to an edge the chosen values sit.
ABLATIONS = [
    ("all defaults", {}),
    ("no memory of recurring excursions", {"recurrence": False}),
    ("no relearning of a new level", {"relearn": 0}),
    ("scale from the 60-value window, winsorised at 5 (before)", {"scale_window": 60, "clip": 5.0}),
    ("no daily profile", {"season_buckets": 0}),
]
NUDGES = [
    ("threshold", 4.5),
    ("threshold", 5.5),
    ("recur_margin", 1.1),
    ("recur_margin", 1.5),
    ("burst_k", 3),
    ("clip", 3.5),
    ("window", 90),
    ("scale_window", 180),
    ("scale_window", 360),
    ("relearn", 60),
]


def _row(label: str, tune: Score, validate: Score) -> str:
    return (
        f"| {label} | {tune.f1:.3f} | {tune.detected}/{tune.segments} | {tune.fp} "
        f"| {validate.f1:.3f} | {validate.detected}/{validate.segments} | {validate.fp} |"
    )


def ablation_rows(config: DetectorConfig) -> list[str]:
    rows = []
    for label, changes in ABLATIONS:
        print(f"[detector] ablation: {label}…", flush=True)
        varied = config.replace(**changes)
        rows.append(_row(label, score_part("cmd/tune", varied).score, score_part("cmd/validate", varied).score))
    for name, value in NUDGES:
        print(f"[detector] {name}={value}…", flush=True)
        varied = config.replace(**{name: value})
        label = f"`{name}` {getattr(config, name)} → {value}"
        rows.append(_row(label, score_part("cmd/tune", varied).score, score_part("cmd/validate", varied).score))
    return rows


# An ASD server is one component with 19 metrics: a page when any of them is unusual. An operator would set
# that component's threshold (DetectionSettings) from its own history, as the baseline's was: searched here
# on asd/tune, then applied to asd/validate.
COMPONENT_THRESHOLDS = [5.0, 6.0, 7.0, 8.0, 10.0, 12.0]


def component_threshold_row(config: DetectorConfig) -> str:
    best = None
    for threshold in COMPONENT_THRESHOLDS:
        print(f"[detector] asd/tune at threshold {threshold}…", flush=True)
        tuned = score_part("asd/tune", config.replace(threshold=threshold)).score
        if best is None or tuned.f1 > best[1].f1:
            best = (threshold, tuned)
    threshold, tuned = best
    s = score_part("asd/validate", config.replace(threshold=threshold)).score
    return (
        f"| asd/validate, component threshold {threshold:g} (searched on asd/tune: F1 {tuned.f1:.3f}) "
        f"| **{s.f1:.3f}** | {s.precision:.3f} | {s.recall:.3f} | {s.detected}/{s.segments} | {s.fp:,} "
        f"| {s.mean_delay or 0:.2f} | {s.raw_f1:.3f} |"
    )


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
    ablations = ablation_rows(config)
    component_row = component_threshold_row(config)
    print("[detector] replay speed…", flush=True)
    memory_rate, csv_rate = replay_speed()
    lines = [
        "## Anomaly detector",
        "",
        "`anomalies/detector.py` with its default settings (chosen on the tune halves only), scored with the",
        "datasets' point-adjusted definition. Each series is watched the way production watches a metric of its",
        "kind: latency and error rates upward only, throughput both ways. Baseline: the naive rolling z-score of",
        "`../shared/datasets/README.md` at its threshold searched on tune (the honest floor). ASD: a row counts as",
        "anomalous when any of the server's 19 metrics is; detectors warm up on `asd/history/`.",
        "",
        "| part | F1 (PA) | P | R | segments | FP points | delay (pts) | unadjusted F1 "
        "| baseline F1 | baseline segments | baseline FP | baseline delay |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Targets (issue 4): F1 ≥ 0.75 on cmd/validate with no more FP points than the baseline's 384.",
        "",
        "ASD pages when any of a server's 19 metrics is unusual, so per-metric defaults add up to many false",
        "points. Set per component, as an operator would from the server's history (the baseline's threshold was",
        "searched on tune the same way):",
        "",
        "| part | F1 (PA) | P | R | segments | FP points | delay (pts) | unadjusted F1 |",
        "|---|---|---|---|---|---|---|---|",
        component_row,
        "",
        "What each part is worth, and how close to an edge the defaults sit (CMD; every other setting at its",
        "default). The validate columns are reported, not used to choose:",
        "",
        "| change | tune F1 | tune segments | tune FP | validate F1 | validate segments | validate FP |",
        "|---|---|---|---|---|---|---|",
        *ablations,
        "",
        "What limits the score: labels that disagree with each other (`ingress-03`'s outages are labelled normal,",
        "the same outages in `ingress-01/05` anomalous; many hourly latency excursions of 3 to 5 times the level are",
        "labelled normal), long segments whose first flagged point decides hundreds of points (`mongo-03` 1,092,",
        "`ingress-04` 236, one `machine-01` segment of 122: point-adjusted F1 moves by several hundredths when",
        "one of them is caught a little earlier or not at all), `machine-01`'s labels, which mark query",
        "patterns experts consider precursors rather than deviations a univariate detector can see, and",
        "`mongo-04`, whose normal random-time bursts (z of 10 to 40) still cost about 100 false points.",
        "",
        "| replay | points/s | target |",
        "|---|---|---|",
        f"| detector, in memory (`Detector.step`) | {memory_rate:,.0f} | ≥ 200,000 |",
        f"| `backtest` CSV → CSV, 1 M points | {csv_rate:,.0f} | ≥ 200,000 |",
        "",
    ]
    return "\n".join(lines)
