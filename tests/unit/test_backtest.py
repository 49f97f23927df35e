from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from anomalies import backtest
from anomalies.scoring import point_adjusted


def write(path: Path, rows: list[tuple], header: str = "timestamp,value") -> Path:
    path.write_text(header + "\n" + "".join(",".join(str(x) for x in row) + "\n" for row in rows))
    return path


def series(n: int = 600, anomaly_at: int = 500) -> list[tuple[int, float, int]]:
    rng = random.Random(3)
    return [
        (1_700_000_000 + i * 60, round(300.0 if i in (anomaly_at, anomaly_at + 1) else rng.gauss(100, 5), 3),
         int(i in (anomaly_at, anomaly_at + 1)))
        for i in range(n)
    ]  # fmt: skip


def read(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_one_output_row_per_input_row_in_order(tmp_path: Path) -> None:
    rows = series()
    source = write(tmp_path / "in.csv", rows, "timestamp,value,label")
    result = backtest.run(source, tmp_path / "out.csv")
    out = read(tmp_path / "out.csv")
    assert list(out[0]) == ["timestamp", "value", "anomaly_score", "is_anomaly"]
    assert [r["timestamp"] for r in out] == [str(r[0]) for r in rows]
    assert [r["value"] for r in out] == [str(r[1]) for r in rows]
    assert all(0 <= float(r["anomaly_score"]) <= 1 and r["is_anomaly"] in {"0", "1"} for r in out)
    assert out[500]["is_anomaly"] == "1"
    assert result.points == 600 and result.anomalies >= 1


def test_it_is_causal(tmp_path: Path) -> None:
    """A row's output depends only on that row and earlier ones: cutting the future changes nothing."""
    rows = series()
    pairs = [row[:2] for row in rows]
    backtest.run(write(tmp_path / "all.csv", pairs), tmp_path / "all-out.csv")
    backtest.run(write(tmp_path / "part.csv", pairs[:450]), tmp_path / "part-out.csv")
    assert read(tmp_path / "part-out.csv") == read(tmp_path / "all-out.csv")[:450]


def test_iso_timestamps_and_irregular_steps(tmp_path: Path) -> None:
    rows = [(f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z", 100 + (i % 7)) for i in range(0, 3000, 7)]
    result = backtest.run(write(tmp_path / "iso.csv", rows), tmp_path / "out.csv")
    assert result.points == len(rows)


def test_labels_are_scored_point_adjusted(tmp_path: Path) -> None:
    rows = series()
    source = write(tmp_path / "in.csv", rows, "timestamp,value,label")
    result = backtest.run(source, tmp_path / "out.csv", labels=source)
    assert result.score is not None
    assert result.score.segments == 1 and result.score.detected == 1
    assert result.score.mean_delay == 0


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([(1, "x")], "timestamp,value", "not a number"),
        ([("yesterday", 1)], "timestamp,value", "neither epoch"),
        ([(1, 2)], "time,val", "header must name"),
    ],
)
def test_bad_input_is_explained(tmp_path: Path, rows: list, header: str, message: str) -> None:
    with pytest.raises(backtest.BacktestError, match=message):
        backtest.run(write(tmp_path / "bad.csv", rows, header), tmp_path / "out.csv")


def test_the_command_line_runs_without_django(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path / "in.csv", series(), "timestamp,value,label")
    code = backtest.main([str(source), "--output", str(tmp_path / "o.csv"), "--labels", str(source)])
    assert code == 0
    assert "point-adjusted" in capsys.readouterr().out
    assert backtest.main([str(tmp_path / "missing.csv"), "--output", str(tmp_path / "o.csv")]) == 2


def test_point_adjust_matches_the_datasets_definition() -> None:
    labels = [0, 1, 1, 1, 0, 0, 1, 1, 0, 0]
    flags = [1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    score = point_adjusted(labels, flags)
    assert (score.tp, score.fp, score.fn) == (3, 2, 2)
    assert score.detected == 1 and score.segments == 2 and score.delays == [2]


def messy(n: int = 600) -> list[tuple[int, float]]:
    """A minute series with a resent window, a late point, a point far in the past and an anomaly at 500."""
    rng = random.Random(8)
    rows = [(1_700_000_000 + i * 60, round(300.0 if i == 500 else rng.gauss(100, 5), 3)) for i in range(n)]
    rows.insert(201, (rows[200][0], 100.5))  # the window at 200 resent with another value: the last one is kept
    rows[300], rows[301] = rows[301], rows[300]  # one minute late
    rows.insert(400, (rows[100][0], 5000.0))  # five hours late: too old
    return rows


def test_real_histories_with_repeats_and_late_points_are_accepted_and_counted(tmp_path: Path) -> None:
    rows = messy()
    result = backtest.run(write(tmp_path / "in.csv", rows), tmp_path / "out.csv")
    out = read(tmp_path / "out.csv")
    assert (result.duplicates, result.reordered, result.dropped) == (1, 1, 1)
    assert result.points == 600 == len(out) and result.rows_read == len(rows)
    stamps = [int(r["timestamp"]) for r in out]
    assert stamps == sorted(set(stamps)) == [1_700_000_000 + i * 60 for i in range(600)]
    assert out[200]["value"] == "100.5"  # the resent value
    assert out[500]["is_anomaly"] == "1"
    assert "5000.0" not in {r["value"] for r in out}


def test_order_is_restored_across_chunk_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = messy()
    whole = backtest.run(write(tmp_path / "in.csv", rows), tmp_path / "whole.csv")
    for size in (7, 100, 201):
        monkeypatch.setattr(backtest, "CHUNK", size)
        chunked = backtest.run(write(tmp_path / "in.csv", rows), tmp_path / "chunked.csv")
        assert read(tmp_path / "chunked.csv") == read(tmp_path / "whole.csv")
        assert (chunked.duplicates, chunked.reordered, chunked.dropped) == (1, 1, 1)
    assert whole.points == 600


def test_a_repeat_of_an_already_decided_row_is_dropped(tmp_path: Path) -> None:
    rows = [(1_700_000_000 + i * 60, 100.0 + i % 3) for i in range(50)]
    rows.insert(30, rows[10])  # repeated long after
    rows.insert(20, (rows[19][0], 101.0))  # repeated at once: merged
    result = backtest.run(write(tmp_path / "in.csv", rows), tmp_path / "out.csv")
    assert (result.points, result.duplicates, result.reordered, result.dropped) == (50, 1, 0, 1)


def test_the_summary_reports_what_was_merged_reordered_and_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "in.csv", messy())
    assert backtest.main([str(source), "--output", str(tmp_path / "o.csv")]) == 0
    printed = capsys.readouterr().out
    assert "1 repeated timestamps merged (the last value kept)" in printed
    assert "1 late points put back in order" in printed
    assert "1 points older than one already decided dropped" in printed
