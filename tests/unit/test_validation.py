from datetime import UTC, datetime, timedelta

import pytest

from health.validation import validate_events, validate_records

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def resolve(ref: object, name: object, environment: str) -> int | None:
    if ref == 7 or (name == "api" and environment == "production"):
        return 7
    return None


def check(item: dict) -> list[tuple[int, str, str]]:
    _, errors = validate_events([item], now=NOW, resolve=resolve, default_window=timedelta(seconds=10))
    return [(e.index, e.field, e.message) for e in errors]


GOOD = {"component": 7, "window_start": "2026-11-28T11:59:50Z"}


def test_a_good_event_is_cleaned() -> None:
    rows, errors = validate_events(
        [GOOD | {"error_rate": 0.1, "request_count": 10, "error_count": 1}],
        now=NOW,
        resolve=resolve,
        default_window=timedelta(seconds=10),
    )
    assert errors == []
    assert rows[0]["component_id"] == 7
    assert rows[0]["window_end"] - rows[0]["window_start"] == timedelta(seconds=10)
    assert rows[0]["status"] is None  # derived from thresholds later


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"error_rate": float("nan")}, "error_rate", "finite"),
        ({"latency_p95_ms": float("inf")}, "latency_p95_ms", "finite"),
        ({"request_count": -1}, "request_count", "≥ 0"),
        ({"error_rate": 1.5}, "error_rate", "≤ 1"),
        ({"availability": -0.1}, "availability", "≥ 0"),
        ({"cpu_percent": 101}, "cpu_percent", "≤ 100"),
        ({"status": "sort-of-ok"}, "status", "one of"),
        ({"window_start": "2026-11-28T13:00:00Z"}, "window_start", "future"),
        ({"window_start": "2026-11-28T11:59:50"}, "window_start", "time zone"),
        ({"window_start": "yesterday"}, "window_start", "ISO-8601"),
        ({"component": 8}, "component", "no component"),
        ({"component": "7"}, "component", "integer"),
        ({"latency_p95_ms": "fast"}, "latency_p95_ms", "number"),
        ({"metadata": [1]}, "metadata", "object"),
        ({"surprise": 1}, "surprise", "not a known field"),
        ({"window_end": "2026-11-28T11:59:40Z"}, "window_end", "after window_start"),
        ({"request_count": 1, "error_count": 2}, "error_count", "exceed"),
    ],
)
def test_each_bad_field_is_named(patch: dict, field: str, words: str) -> None:
    errors = check(GOOD | patch)
    assert len(errors) == 1
    index, named, message = errors[0]
    assert (index, named) == (0, field)
    assert words in message


def test_one_bad_item_in_a_batch_is_reported_by_index() -> None:
    items = [GOOD, GOOD, GOOD | {"error_rate": 2}, GOOD]
    _, errors = validate_events(items, now=NOW, resolve=resolve, default_window=timedelta(seconds=10))
    assert [(e.index, e.field) for e in errors] == [(2, "error_rate")]


def test_records_are_sanitised_and_validated() -> None:
    items = [
        {"component_name": "api", "started_at": NOW.timestamp() - 5, "duration_ms": 12.5, "ok": False,
         "error_kind": "timeout", "message": "upstream 10.0.0.1 password=hunter2"},
        {"component": 7, "started_at": "2026-11-28T11:59:00Z", "duration_ms": -1, "ok": True},
        {"component": 7, "started_at": "2026-11-28T11:59:00Z", "duration_ms": 1, "ok": "yes"},
    ]  # fmt: skip
    rows, errors = validate_records(items, now=NOW, resolve=resolve, sanitize=lambda m: m.replace("hunter2", "x"))
    assert rows[0]["message"] == "upstream 10.0.0.1 password=x"
    assert [(e.index, e.field) for e in errors] == [(1, "duration_ms"), (2, "ok")]
