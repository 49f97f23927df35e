"""Replay a ``timestamp,value`` file through exactly the production detector. Pure Python.

Writes ``timestamp,value,anomaly_score,is_anomaly``: one row per timestamp, in time order, the score in 0..1
and the decision production would take at that row, from that row and earlier ones only. Usable as
``python -m anomalies.backtest`` with no Django, database or broker; ``manage.py backtest`` wraps it.

Real histories are not perfectly ordered, so neither is the input required to be:

* **Repeated timestamps** are merged, keeping the **last** value (a resent window usually carries the
  corrected value); they are counted (``duplicates``) and written once.
* **A point slightly out of order** (older than the row before it but newer than every row already decided:
  up to about one interval late) is put back in its place and counted (``reordered``).
* **A point older than a row already decided** cannot be judged causally any more: it is dropped and counted
  (``dropped``), as production drops a window older than the last one it saw.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

from anomalies.detector import Detector, DetectorConfig
from anomalies.scoring import Score, point_adjusted


class BacktestError(ValueError):
    pass


@dataclass
class BacktestResult:
    points: int  # rows judged and written (one per timestamp)
    anomalies: int
    seconds: float
    score: Score | None = None
    duplicates: int = 0  # rows whose timestamp repeated the one before: merged, the last value kept
    reordered: int = 0  # rows slightly out of order, put back in their place
    dropped: int = 0  # rows older than one already decided: dropped

    @property
    def rows_read(self) -> int:
        return self.points + self.duplicates + self.dropped

    @property
    def points_per_second(self) -> float:
        return self.points / self.seconds if self.seconds else 0.0


def parse_timestamp(text: str) -> float:
    """Epoch seconds, or ISO-8601 (a time without zone is taken as UTC)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BacktestError(f"{text!r} is neither epoch seconds nor an ISO-8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


CHUNK = 100_000


def _chunks(path: Path) -> Iterator[tuple[list[str], list[float], list[str], list[float]]]:
    """The file in chunks of (timestamp texts, timestamps, value texts, values), parsed and checked.

    Reading is vectorised (pandas) and chunked, so memory stays bounded however long the file is.
    """
    import pandas as pd

    try:
        reader = pd.read_csv(
            path, dtype=str, chunksize=CHUNK, skipinitialspace=True, keep_default_na=False, index_col=False
        )
    except pd.errors.EmptyDataError:
        raise BacktestError(f"{path} is empty") from None
    with reader:
        yield from _checked(path, reader)


def _checked(path: Path, reader: Any) -> Iterator[tuple[list[str], list[float], list[str], list[float]]]:
    import pandas as pd

    line = 2
    for frame in reader:
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        if "timestamp" not in frame.columns or "value" not in frame.columns:
            raise BacktestError(f"{path}: the header must name 'timestamp' and 'value' columns")
        stamps_text = frame["timestamp"]
        stamps = pd.to_numeric(stamps_text, errors="coerce")
        if stamps.isna().any():
            parsed = pd.to_datetime(stamps_text, errors="coerce", utc=True, format="ISO8601")
            bad = parsed.isna() & stamps.isna()
            if bad.any():
                where = int(bad.to_numpy().argmax())
                raise BacktestError(
                    f"{path}:{line + where}: {stamps_text.iloc[where]!r} is neither epoch seconds nor ISO-8601"
                )
            stamps = stamps.fillna(parsed.astype("int64") / 1e9)
        values = pd.to_numeric(frame["value"], errors="coerce")
        if values.isna().any():
            where = int(values.isna().to_numpy().argmax())
            raise BacktestError(f"{path}:{line + where}: value {frame['value'].iloc[where]!r} is not a number")
        line += len(frame)
        yield (
            stamps_text.tolist(),
            stamps.astype(float).tolist(),
            frame["value"].tolist(),
            values.astype(float).tolist(),
        )


@dataclass
class _Order:
    """Puts rows in time order as they stream by, holding back one row (see the module's docstring)."""

    pending: tuple[str, float, str, float] | None = None
    decided: float | None = None  # the newest timestamp already handed on
    duplicates: int = 0
    reordered: int = 0
    dropped: int = 0

    def chunk(
        self, texts: list[str], stamps: list[float], value_texts: list[str], values: list[float]
    ) -> tuple[list[str], list[float], list[str], list[float]]:
        """The rows of this chunk that can be decided now, in time order."""
        pending = self.pending
        if pending is not None and stamps and stamps[0] > pending[1] and all(a < b for a, b in pairwise(stamps)):
            # The common case, already in order: hand on the held row and all but the last of this chunk.
            self.decided = stamps[-2] if len(stamps) > 1 else pending[1]
            self.pending = (texts[-1], stamps[-1], value_texts[-1], values[-1])
            return (
                [pending[0], *texts[:-1]],
                [pending[1], *stamps[:-1]],
                [pending[2], *value_texts[:-1]],
                [pending[3], *values[:-1]],
            )
        rows: list[tuple[str, float, str, float]] = []
        for row in zip(texts, stamps, value_texts, values, strict=True):
            stamp = row[1]
            if pending is None:
                if self.decided is not None and stamp <= self.decided:
                    self.dropped += 1
                else:
                    pending = row
            elif stamp > pending[1]:
                rows.append(pending)
                self.decided = pending[1]
                pending = row
            elif stamp == pending[1]:
                pending = (pending[0], stamp, row[2], row[3])  # the last value, under the first row's text
                self.duplicates += 1
            elif self.decided is None or stamp > self.decided:
                rows.append(row)  # late, but nothing after it was decided yet: put back in its place
                self.decided = stamp
                self.reordered += 1
            else:
                self.dropped += 1  # older than (or as old as) a row already decided
        self.pending = pending
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]

    def finish(self) -> tuple[list[str], list[float], list[str], list[float]]:
        pending, self.pending = self.pending, None
        if pending is None:
            return [], [], [], []
        self.decided = pending[1]
        return [pending[0]], [pending[1]], [pending[2]], [pending[3]]

    def ordered(self, chunks: Iterator[tuple[list[str], list[float], list[str], list[float]]]) -> Iterator[
        tuple[list[str], list[float], list[str], list[float]]
    ]:  # fmt: skip
        for chunk in chunks:
            yield self.chunk(*chunk)
        yield self.finish()


def read_labels(path: Path) -> dict[float, int]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if "timestamp" not in header or "label" not in header:
            raise BacktestError(f"{path}: a labels file needs 'timestamp' and 'label' columns")
        ts_col, label_col = header.index("timestamp"), header.index("label")
        return {parse_timestamp(row[ts_col]): int(float(row[label_col])) for row in reader if row}


def run(
    source: Path,
    output: Path,
    *,
    config: DetectorConfig | None = None,
    history: Path | None = None,
    labels: Path | None = None,
    progress: Callable[[float, int], None] | None = None,
) -> BacktestResult:
    detector = Detector(config or DetectorConfig())
    step = detector.step  # the same computation as update(), without building a Decision per point
    if history is not None:
        for _, stamps, _, values in _Order().ordered(_chunks(history)):
            for stamp, value in zip(stamps, values, strict=True):
                step(stamp, value)
    import pandas  # noqa: F401 -- imported before the clock starts: its import is not replay time

    size = max(1, os.path.getsize(source))
    seen: list[float] = []
    flags: list[bool] = []
    points = anomalies = 0
    order = _Order()
    started = time.perf_counter()
    with output.open("w", newline="") as out:
        out.write("timestamp,value,anomaly_score,is_anomaly\n")
        for stamp_texts, stamps, value_texts, values in order.ordered(_chunks(source)):
            lines = []
            for stamp_text, stamp, value_text, value in zip(stamp_texts, stamps, value_texts, values, strict=True):
                judged = step(stamp, value)
                if judged is None:
                    flag = False
                    lines.append(f"{stamp_text},{value_text},0.0000,0\n")
                else:
                    flag = judged[2]
                    lines.append(f"{stamp_text},{value_text},{judged[0]:.4f},{1 if flag else 0}\n")
                if flag:
                    anomalies += 1
                if labels is not None:
                    flags.append(flag)
            out.writelines(lines)
            points += len(stamps)
            if labels is not None:
                seen.extend(stamps)
            if progress is not None:
                progress(min(points * 24 / size, 0.99), points)  # about 24 bytes a row: a display estimate
    result = BacktestResult(
        points=points,
        anomalies=anomalies,
        seconds=time.perf_counter() - started,
        duplicates=order.duplicates,
        reordered=order.reordered,
        dropped=order.dropped,
    )
    if labels is not None:
        truth = read_labels(labels)
        missing = sum(1 for s in seen if s not in truth)
        if missing:
            raise BacktestError(f"{labels}: no label for {missing} timestamps of the input")
        result.score = point_adjusted([truth[s] for s in seen], flags)
    if progress is not None:
        progress(1.0, points)
    return result


def terminal_progress(stream: IO[str]) -> Callable[[float, int], None]:
    started = time.perf_counter()

    def show(fraction: float, points: int) -> None:
        filled = int(fraction * 30)
        rate = points / max(time.perf_counter() - started, 1e-9)
        stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} {points:,} points {rate:,.0f}/s")
        if fraction >= 1.0:
            stream.write("\n")
        stream.flush()

    return show


def report(result: BacktestResult) -> str:
    lines = [
        f"{result.points:,} points, {result.anomalies:,} flagged, {result.points_per_second:,.0f} points/s",
        f"input order: {result.duplicates:,} repeated timestamps merged (the last value kept), "
        f"{result.reordered:,} late points put back in order, {result.dropped:,} points older than one already "
        "decided dropped",
    ]
    if result.score is not None:
        s = result.score
        delay = "n/a" if s.mean_delay is None else f"{s.mean_delay:.2f} points"
        lines.append(
            f"point-adjusted P={s.precision:.3f} R={s.recall:.3f} F1={s.f1:.3f}; "
            f"{s.detected}/{s.segments} segments detected; mean delay {delay}; {s.fp} false-positive points"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="CSV with timestamp,value (a label column is ignored)")
    parser.add_argument(
        "--output", type=Path, required=True, help="where to write timestamp,value,anomaly_score,is_anomaly"
    )
    parser.add_argument("--labels", type=Path, help="score against this timestamp,...,label file (point-adjusted)")
    parser.add_argument("--history", type=Path, help="warm the detector up on this earlier timestamp,value file")
    parser.add_argument("--threshold", type=float, help="opening threshold (robust z-score); default 5")
    parser.add_argument("--window", type=int, help="baseline window in points; default 60")
    parser.add_argument("--direction", choices=["up", "down", "both"], help="which deviations count; default both")
    parser.add_argument("--min-duration", type=int, help="points in a row over the threshold before flagging")
    parser.add_argument("--no-seasonality", action="store_true", help="do not learn a daily profile")


def config_from(options: dict[str, object]) -> DetectorConfig:
    config = DetectorConfig()
    changes = {
        key: options[name]
        for key, name in [
            ("threshold", "threshold"),
            ("window", "window"),
            ("direction", "direction"),
            ("min_duration", "min_duration"),
        ]
        if options.get(name) is not None
    }
    if options.get("no_seasonality"):
        changes["season_buckets"] = 0
    config = config.replace(**changes)
    problems = config.problems()
    if problems:
        raise BacktestError("; ".join(problems))
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backtest", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        result = run(
            options["input"],
            options["output"],
            config=config_from(options),
            history=options["history"],
            labels=options["labels"],
            progress=terminal_progress(sys.stderr) if sys.stderr.isatty() else None,
        )
    except (BacktestError, OSError) as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
    print(report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
