"""The production detector, default settings, on the labelled datasets in ../shared/datasets.

Defaults were chosen on the tune halves only; the validate halves are reported as they come. Each series is
watched the way production watches a metric of its kind (``anomalies.rules.WATCHED``): latency and error
rates count upward deviations only, throughput both ways. Scored with the datasets' own point-adjusted
definition (anomalies.scoring, checked against their evaluate.py in tests) and with the pager score
(decisions as pages, checked against their pager_score.py). ASD: one detector per metric (both directions:
the metrics are unnamed), warmed up on the unlabelled history; a server is one component, and its decision
is ``anomalies.pager.ComponentPager``'s incident flag (a page is its onset). The naive rolling z-score of
../shared/datasets/zscore_baseline.py is computed in the same run at its threshold searched on tune. Also
measured: replay speed, in memory and CSV to CSV.
"""

from __future__ import annotations

import csv
import math
import os
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anomalies import backtest
from anomalies.detector import Detector, DetectorConfig
from anomalies.pager import ComponentPager, PagerConfig
from anomalies.scoring import PagerScore, Score, pager, pager_windows, point_adjusted

ROOT = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("CORE314_DATASETS", ROOT.parent / "shared" / "datasets"))

# From ../shared/datasets/README.md: the naive rolling z-score at the threshold searched on tune.
BASELINE = {
    "cmd/tune": (0.874, 94, 152, 311, 7.28),
    "cmd/validate": (0.683, 82, 129, 384, 2.00),
    "asd/tune": (0.825, 27, 39, 282, 6.22),
    "asd/validate": (0.786, 29, 37, 277, 7.00),
}


# The naive rolling z-score's thresholds, searched on the tune halves by evaluate.py --best-threshold
# (../shared/datasets/README.md); its scores are computed here, in the same run.
ZSCORE_THRESHOLD = {"cmd": 5.2345, "asd": 13.6797}
PARTS = ["cmd/tune", "cmd/validate", "asd/tune", "asd/validate"]


@dataclass
class PartResult:
    part: str
    score: Score
    points: int
    pager: PagerScore | None = None
    # The same pages with every false one removed (a diagnostic that reads the labels, not a detector): what
    # filtering false pages alone could reach, the rest being incidents missed or paged late.
    clean: PagerScore | None = None


def _without_false_pages(labels: list[int], flags: list[bool]) -> list[bool]:
    inside = [False] * len(labels)
    for lo, hi in pager_windows(labels):
        inside[lo : hi + 1] = [True] * (hi - lo + 1)
    return [f and w for f, w in zip(flags, inside, strict=True)]


def _load(path: Path) -> tuple[list[float], list[list[float]], list[int]]:
    with path.open() as handle:
        reader = csv.reader(handle)
        header = next(reader)
        metric_cols = [i for i, h in enumerate(header) if h not in {"timestamp", "label"}]
        has_label = "label" in header
        stamps: list[float] = []
        columns: list[list[float]] = [[] for _ in metric_cols]
        labels: list[int] = []
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


Series = tuple[list[float], list[list[float]], list[int]]


def _series(part: str) -> Iterator[tuple[Path, list[float], list[list[float]], list[int], Series | None]]:
    """Each labelled file of a part: (path, stamps, metric columns, labels, history or None)."""
    history_dir = DATASETS / part.split("/")[0] / "history"
    for path in sorted((DATASETS / part).glob("*.csv")):
        stamps, columns, labels = _load(path)
        history = history_dir / path.name
        yield path, stamps, columns, labels, (_load(history) if history.exists() else None)


def score_part(
    part: str,
    config: DetectorConfig,
    pager_config: PagerConfig | None = None,
    *,
    any_metric: bool = False,
    per_kind: dict[str, dict[str, Any]] | None = None,
) -> PartResult:
    """The production decision on one part. A file with one metric: that metric's ``is_anomaly``. A file with
    several (an ASD server): the ComponentPager's incident flag over its metrics' decisions, or, with
    ``any_metric``, "any metric is anomalous" (the decision before the pager). ``per_kind``: settings changed
    for the series of one catalogue kind only (e.g. ``{"error_rate": {"threshold": 4.0}}``)."""
    total, pages, clean = Score(), PagerScore(), PagerScore()
    points = 0
    kind_of = kinds()
    pager_config = pager_config or PagerConfig()
    for path, stamps, columns, labels, history in _series(part):
        kind = kind_of.get(path.name, "")
        changes = {"direction": DIRECTION.get(kind, config.direction), **(per_kind or {}).get(kind, {})}
        detectors = [Detector(config.replace(**changes)) for _ in columns]
        if history is not None:
            h_stamps, h_columns, _ = history
            for detector, values in zip(detectors, h_columns, strict=True):
                step = detector.step
                for stamp, value in zip(h_stamps, values, strict=True):
                    step(stamp, value)
        if len(columns) == 1 or any_metric:
            flags = [False] * len(stamps)
            for detector, values in zip(detectors, columns, strict=True):
                update = detector.update
                for i, (stamp, value) in enumerate(zip(stamps, values, strict=True)):
                    if update(stamp, value).is_anomaly:
                        flags[i] = True
        else:
            component = ComponentPager(pager_config)
            names = [f"m{k + 1:02d}" for k in range(len(columns))]
            flags = []
            for i, stamp in enumerate(stamps):
                decisions = {
                    name: detector.update(stamp, values[i])
                    for name, detector, values in zip(names, detectors, columns, strict=True)
                }
                flags.append(component.update(stamp, decisions).incident_open)
        total = total.add(point_adjusted(labels, flags))
        pages = pages.add(pager(labels, flags))
        clean = clean.add(pager(labels, _without_false_pages(labels, flags)))
        points += len(stamps) * len(columns)
    return PartResult(part, total, points, pages, clean)


def segment_breadth(split: str) -> tuple[int, int]:
    """ASD: how many labelled segments of a split involve at most 3 metrics, of how many (the source's
    interpretation labels, asd/anomaly_segments.csv)."""
    with (DATASETS / "asd" / "anomaly_segments.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == split]
    return sum(1 for r in rows if len(r["metrics"].split()) <= 3), len(rows)


def zscore_scores(part: str) -> list[tuple[list[int], list[float], int]]:
    """The datasets' naive rolling z-score (60 previous points, 10 needed; ASD warmed up on its history; the
    max over metrics) for each file of a part: (labels, scores, points)."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    window, min_periods = 60, 10
    found = []
    for _, stamps, columns, labels, history in _series(part):
        x = np.array(columns, dtype=float).T
        skip = 0
        if history is not None:
            x = np.vstack([np.array(history[1], dtype=float).T, x])
            skip = len(history[0])
        scores = np.zeros(x.shape[0])
        for j in range(x.shape[1]):
            column = x[:, j]
            previous = sliding_window_view(np.concatenate([np.full(window, np.nan), column]), window)[: column.size]
            count = np.sum(~np.isnan(previous), axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.nanmean(np.where(count[:, None] > 0, previous, 0.0), axis=1)
                std = np.maximum(np.nanstd(np.where(count[:, None] > 0, previous, 0.0), axis=1), 1e-9)
            z = np.abs(column - mean) / std
            z[(count < min_periods) | np.isnan(z)] = 0.0
            scores = np.maximum(scores, z)
        found.append((labels, scores[skip:].tolist(), len(stamps) * len(columns)))
    return found


def zscore_part(part: str, threshold: float, scores: list[tuple[list[int], list[float], int]]) -> PartResult:
    total, pages = Score(), PagerScore()
    points = 0
    for labels, values, n in scores:
        flags = [v >= threshold for v in values]
        total = total.add(point_adjusted(labels, flags))
        pages = pages.add(pager(labels, flags))
        points += n
    return PartResult(part, total, points, pages)


def zscore_pager_threshold(corpus: str, scores: list[tuple[list[int], list[float], int]]) -> float:
    """The rolling z-score's threshold with the best standard pager score on the corpus's tune half."""
    grid = [round(3.0 * 1.05**k, 4) for k in range(60)]  # 3 … ~53

    def standard(threshold: float) -> float:
        score = zscore_part(f"{corpus}/tune", threshold, scores).pager
        assert score is not None
        return score.standard

    return max(grid, key=standard)


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
ABLATIONS: list[tuple[str, dict[str, Any]]] = [
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
# The component-level decision (ASD): the pager's settings switched or nudged, and the per-metric threshold.
PAGER_ABLATIONS: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = [
    ("pager defaults (3 metrics within 3 timestamps, calm 2)", {}, {}),
    ("any metric pages (before the pager)", None, {}),
    ("`corroborate` 3 → 1 (one metric opens the incident; joins and calm as the default)", {"corroborate": 1}, {}),
    ("`corroborate` 3 → 2", {"corroborate": 2}, {}),
    ("`corroborate` 3 → 4", {"corroborate": 4}, {}),
    ("`within` 3 → 1 (the same timestamp)", {"within": 1}, {}),
    ("`within` 3 → 5", {"within": 5}, {}),
    ("`calm` 2 → 1", {"calm": 1}, {}),
    ("`calm` 2 → 4", {"calm": 4}, {}),
    ("`strong` off → 4 (one metric 4 times past its bar pages alone)", {"strong": 4.0}, {}),
    ("metric `threshold` 5 → 4", {}, {"threshold": 4.0}),
    ("metric `threshold` 5 → 6", {}, {"threshold": 6.0}),
]


# Round 2 (issue 14, item 6, second pass): directions tried on the tune halves and not kept, those that are
# settings of the detector (the others needed scaffolding outside it; the README's prose gives their numbers).
# (label, corpus, detector changes, changes for one catalogue kind only)
TRIALS: list[tuple[str, str, dict[str, Any], dict[str, dict[str, Any]]]] = [
    ("crash rates watched as production watches `error_rate` (`min_duration` 2, `rules.WATCHED`)", "cmd", {},
     {"error_rate": {"min_duration": 2}}),
    ("per-kind threshold: crash rates at 4.0 (the best single per-kind change on tune)", "cmd", {},
     {"error_rate": {"threshold": 4.0}}),
    ("per-kind threshold: latency at 6.0", "cmd", {}, {"latency": {"threshold": 6.0}}),
    ("coarser daily profile: `season_buckets` 24 → 8 (the best global change on tune)", "cmd",
     {"season_buckets": 8}, {}),
    ("daily profile after one cycle: `season_min_cycles` 2 → 1", "cmd", {"season_min_cycles": 1.0}, {}),
    ("metric `threshold` 5 → 4.5 (the best per-metric threshold on tune)", "asd", {"threshold": 4.5}, {}),
    ("a recurrence on one earlier day suffices: `daily_need` 2 → 1", "asd", {"daily_need": 1}, {}),
]  # fmt: skip


def trial_rows(config: DetectorConfig, pager_config: PagerConfig) -> list[str]:
    rows = []
    for label, corpus, changes, per_kind in TRIALS:
        print(f"[detector] trial: {label}…", flush=True)
        varied = config.replace(**changes)
        tune, validate = (
            score_part(f"{corpus}/{half}", varied, pager_config, per_kind=per_kind) for half in ("tune", "validate")
        )
        rows.append(_row(f"{corpus.upper()}: {label}", tune, validate))
    return rows


def _pager_cells(r: PartResult) -> str:
    g = r.pager
    assert g is not None
    return (
        f"{g.standard:.1f} | {g.low_fp:.1f} | {g.false_pages_per_10k:.1f} | {g.paged}/{g.incidents} "
        f"| {r.score.f1:.3f} | {r.score.fp:,}"
    )


def _row(label: str, tune: PartResult, validate: PartResult) -> str:
    return f"| {label} | {_pager_cells(tune)} | {_pager_cells(validate)} |"


def ablation_rows(config: DetectorConfig) -> list[str]:
    rows = []
    for label, changes in ABLATIONS:
        print(f"[detector] ablation: {label}…", flush=True)
        varied = config.replace(**changes)
        rows.append(_row(label, score_part("cmd/tune", varied), score_part("cmd/validate", varied)))
    for name, value in NUDGES:
        print(f"[detector] {name}={value}…", flush=True)
        varied = config.replace(**{name: value})
        label = f"`{name}` {getattr(config, name)} → {value}"
        rows.append(_row(label, score_part("cmd/tune", varied), score_part("cmd/validate", varied)))
    return rows


def pager_ablation_rows(config: DetectorConfig, pager_config: PagerConfig) -> list[str]:
    rows = []
    for label, pager_changes, detector_changes in PAGER_ABLATIONS:
        print(f"[detector] pager ablation: {label}…", flush=True)
        varied = config.replace(**detector_changes)
        if pager_changes is None:
            tune, validate = (score_part(p, varied, any_metric=True) for p in ("asd/tune", "asd/validate"))
        else:
            component = pager_config.replace(**pager_changes)
            tune, validate = (score_part(p, varied, component) for p in ("asd/tune", "asd/validate"))
        rows.append(_row(label, tune, validate))
    return rows


def _main_row(part: str, label: str, r: PartResult) -> str:
    s, g = r.score, r.pager
    assert g is not None
    delay = "n/a" if s.mean_delay is None else f"{s.mean_delay:.2f}"
    return (
        f"| {part} | {label} | **{g.standard:.1f}** | **{g.low_fp:.1f}** | {g.false_pages_per_10k:.1f} "
        f"| {g.paged}/{g.incidents} | **{s.f1:.3f}** | {s.precision:.3f} | {s.recall:.3f} | {s.detected}/{s.segments} "
        f"| {s.fp:,} | {delay} | {s.raw_f1:.3f} |"
    )


def ceiling(part: str) -> PagerScore:
    """The labels themselves as decisions: the pager score's ceiling."""
    total = PagerScore()
    for _, _, _, labels, _ in _series(part):
        total = total.add(pager(labels, [bool(x) for x in labels]))
    return total


def run() -> str:
    config = DetectorConfig()
    pager_config = PagerConfig()
    if not DATASETS.exists():
        return f"## Anomaly detector\n\nSkipped: no datasets at `{DATASETS}` (set CORE314_DATASETS).\n"
    rows: list[str] = []
    limits: list[str] = []
    zscores = {part: zscore_scores(part) for part in PARTS}
    searched = {c: zscore_pager_threshold(c, zscores[f"{c}/tune"]) for c in ("cmd", "asd")}
    for part in PARTS:
        print(f"[detector] {part}…", flush=True)
        corpus = part.split("/")[0]
        ours = score_part(part, config, pager_config)
        found = [("**detector** (production decision)", ours)]
        if corpus == "asd":
            found.append(("detector, any metric pages (before)", score_part(part, config, any_metric=True)))
        for t, how in [(searched[corpus], "pager"), (ZSCORE_THRESHOLD[corpus], "F1")]:
            found.append((f"rolling z-score ≥ {t:g} ({how}-searched on tune)", zscore_part(part, t, zscores[part])))
        rows.extend(_main_row(part, label, result) for label, result in found)
        g, c, top = ours.pager, ours.clean, ceiling(part)
        assert g is not None and c is not None
        limits.append(
            f"| {part} | {g.standard:.1f} / {g.low_fp:.1f} | {c.standard:.1f} / {c.low_fp:.1f} "
            f"| {c.paged}/{c.incidents} | {top.standard:.1f} | {top.paged}/{top.incidents} |"
        )
    ablations = ablation_rows(config)
    pager_ablations = pager_ablation_rows(config, pager_config)
    trials = trial_rows(config, pager_config)
    narrow_tune, segments_tune = segment_breadth("tune")
    narrow_validate, segments_validate = segment_breadth("validate")
    print("[detector] replay speed…", flush=True)
    memory_rate, csv_rate = replay_speed()
    header = (
        "| change | tune standard | tune low_fp | tune false pages /10k | tune incidents paged | tune F1 (PA) "
        "| tune FP points | validate standard | validate low_fp | validate false pages /10k "
        "| validate incidents paged | validate F1 (PA) | validate FP points |"
    )
    lines = [
        "## Anomaly detector",
        "",
        "`anomalies/detector.py` with its default settings, and for ASD `anomalies/pager.py` (all chosen on the tune",
        "halves only; validate is reported as it comes). Each CMD series is one metric watched the way production",
        "watches a metric of its kind (latency and error rates upward only, throughput both ways); its decision is",
        "`Decision.is_anomaly`. Each ASD server is one component of 19 metrics (detectors warmed up on",
        "`asd/history/`); its decision is the `ComponentPager`'s incident flag: it opens when 3 metrics open",
        "signals within 3 timestamps, later openings join it, it closes after 2 timestamps with none anomalous.",
        "",
        "**Pager score** (`../shared/datasets/pager_score.py`, same definition in `anomalies/scoring.py`): a page is",
        "the onset of the decision; the first page in an incident's widened window earns up to +1 (earlier is more),",
        "a missed incident costs 1, a false page 0.11 (*standard*) or 0.22 (*low_fp*); 0 is never paging. Beside",
        "it the point-adjusted F1 of the same decisions. Baseline: the naive rolling z-score of",
        "`../shared/datasets/zscore_baseline.py`, computed in this run, at its threshold searched on tune for the",
        "pager score and at the one searched for F1 (`evaluate.py --best-threshold`, from the datasets' README).",
        "",
        "| part | decision | pager standard | pager low_fp | false pages /10k points | incidents paged "
        "| F1 (PA) | P | R | segments | FP points | delay (pts) | unadjusted F1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Targets (issue 14): pager standard ≥ 75 and low_fp ≥ 70 with at most 3 false pages per 10,000 points on",
        "both validate halves, and point-adjusted F1 no lower than before (cmd/validate 0.781, asd/validate 0.743).",
        "",
        "What limits the pager score. *False pages removed* keeps the detector's pages inside incident windows and",
        "drops every other one (a diagnostic that reads the labels): what suppressing false pages alone could reach.",
        "The rest of the gap to the labels' own score is incidents never paged:",
        "",
        "| part | detector standard / low_fp | false pages removed: standard / low_fp | incidents paged "
        "| labels themselves (ceiling) | incidents the labels page |",
        "|---|---|---|---|---|---|",
        *limits,
        "",
        "* **CMD** is bounded by the incidents, not the false pages: with every false page removed the detector's",
        "  own pages would score below 75 on both halves. The misses are mostly moderate rises (z of 2 to 4 over",
        "  several hours) in the crash-rate series, whose normal life has rises as large, and labels that disagree",
        "  between series (spikes of 10 to 30 times the level labelled normal in `app2-03`, anomalous in `app1-05`",
        "  and `app2-07`). Every per-series mechanism tried on cmd/tune to separate them — a peaks-over-threshold",
        "  (SPOT-style, generalized Pareto) threshold per series at a target false-page rate, a longer memory of",
        "  each series' bursts (up to 800 points), a threshold from the k-th largest recent burst, persistence",
        "  before paging for bursty or fast series, a CUSUM path for sustained moderate rises, bridging the gaps",
        "  of a flapping excursion — lost about as many incidents as it saved false pages or more: none raised",
        "  cmd/tune's standard score by more than half a point, most lowered it by several, so none was kept.",
        f"* **ASD** halves differ in what an incident looks like: {narrow_tune} of {segments_tune} tune segments",
        f"  involve at most 3 metrics against {narrow_validate} of {segments_validate} validate segments",
        "  (`asd/anomaly_segments.csv`). Corroboration across metrics is what removes the false pages of 19",
        "  independent detectors, and the incidents it cannot see are the ones a single metric carries; on validate",
        "  those are most of the incidents missed. A metric far past its own bar can be let page alone",
        "  (`PagerConfig.strong`), but tune gives no support for a value (see the ablation), so it is off.",
        "",
        "What each part of the detector is worth, and how close to an edge its defaults sit (CMD; every other",
        "setting at its default). The validate columns are reported, not used to choose:",
        "",
        header,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *ablations,
        "",
        "The same for the component-level decision (ASD):",
        "",
        header,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *pager_ablations,
        "",
        "**Round 2** (a second pass on item 6). Directions tried on the tune halves, none kept. Those that are",
        "settings of the detector are measured here; the validate columns are reported, not used to choose:",
        "",
        header,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *trials,
        "",
        "The others needed scaffolding outside the detector; measured on the tune halves while trying them:",
        "",
        "* **Two-speed detection** (CMD): a slow path judging the mean of the last k deviations (k = 3, 6, 12, 24,",
        "  alone or together) against the baseline. With the textbook scale of a mean (one point's over √k) normal",
        "  life crosses any useful bar: at a bar of 5 it adds 15 to 44 false pages per 10,000 points for at most 3",
        "  more incidents (standard 44 to 61), because the series are autocorrelated and a mean of k points varies",
        "  nearly as much as one point. With the scale learned from the path itself (the RMS of its earlier means,",
        "  anomalous points left out) it is honest, and then the labelled rises do not stand out: at most one more",
        "  incident at any k and bar, standard never above today's. That is also why CUSUM failed: of the 18",
        "  incidents missed on cmd/tune (of 113 scorable), none reaches z 5, 13 never reach 4 and 8 never reach 3;",
        "  sustained rises as large are labelled normal in the same series.",
        "* **A robust scale** (the interquartile range of the 240-value window, alone or averaged with the",
        "  winsorised standard deviation): standard 65.0 to 66.5, 30 to 70 more false pages.",
        "* **Per-kind settings** (threshold, min_duration, clip, window, scale window, relearn, the recurrence",
        "  memories, the daily profile, each for one kind of the catalogue): no change gained more than 3 points on",
        "  cmd/tune, and the best ones (above) do not transfer. Production's `error_rate` watches with",
        "  `min_duration` 2 (count noise of short windows); on the hourly crash rates it would halve what they",
        "  score (first row above). The bench keeps 1 for them, as before; `rules.WATCHED` is unchanged.",
        "* **Seasonality**: the daily profile after one cycle changes nothing on cmd/tune; a coarser one (4 to 12",
        "  phases) gains up to 2 points there and loses 3 to 6 on validate; a weekly profile cannot be learned",
        "  twice in the 30 to 50 days of the hourly series.",
        "* **Holding the flag** (the detector's `incident_open` as the decision): 10.5 false pages per 10,000",
        "  points instead of 11.5 on cmd/tune, but 3 incidents fewer (standard 64.3). A false page there is mostly",
        "  isolated: 75 of 127 come more than 48 points after any flag, and 8 within 3.",
        "* **ASD, quiet periods** (no new page within 24 to 288 timestamps of an incident's close, or only with 5",
        "  to 8 metrics): at most 5 false pages saved, 1 to 11 incidents lost; never above today's 77.1.",
        "* **ASD, weighting metrics by rarity** (each metric's signal onsets a day in `asd/history`): at most 76.9.",
        "  A second tier of many metrics moderately high together (5 to 11 metrics at z 2.5 to 4): at most 76.5.",
        "  Metrics near their bar (`ratio` 0.8 to 0.95) counting towards corroboration: 72 to 78.6 with no smooth",
        "  optimum (neighbours 2 to 5 points lower): noise, not a setting. One metric alone far past its bar for",
        "  several timestamps (z ≥ 10 to 40 for 3 to 24 timestamps): at most 78.0 standard, low_fp below today's.",
        "* **At most 3 false pages per 10,000 points** on asd/tune: the best pager setting that meets it (4 metrics",
        "  at once, metric threshold 5) scores 66.7; each false page removed below today's 14 costs incidents.",
        "",
        "| replay | points/s | target |",
        "|---|---|---|",
        f"| detector, in memory (`Detector.step`) | {memory_rate:,.0f} | ≥ 200,000 |",
        f"| `backtest` CSV → CSV, 1 M points | {csv_rate:,.0f} | ≥ 200,000 |",
        "",
    ]
    return "\n".join(lines)
