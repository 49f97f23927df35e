"""Validation of pushed health events and execution records, one pass over a batch. Pure Python.

Errors name the item (its index) and the field, so a client can fix the one bad item of a batch.
Conventions are those of health.models: rates in 0..1, utilisation in 0..100, latencies in ms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# A stored message has at most MESSAGE_LIMIT characters; a little more is read, so a secret the cut would split
# is still recognised (and removed) whole.
MESSAGE_LIMIT = 500
MESSAGE_READ = MESSAGE_LIMIT + 512
MAX_FUTURE = timedelta(minutes=5)
MAX_PAST = timedelta(days=30)
STATUSES = ("healthy", "degraded", "unhealthy", "critical")

# field → (low, high); None: unbounded on that side.
FLOAT_FIELDS: dict[str, tuple[float | None, float | None]] = {
    "latency_avg_ms": (0, None),
    "latency_p50_ms": (0, None),
    "latency_p95_ms": (0, None),
    "latency_p99_ms": (0, None),
    "latency_max_ms": (0, None),
    "error_rate": (0, 1),
    "availability": (0, 1),
    "throughput_rps": (0, None),
    "cpu_percent": (0, 100),
    "memory_percent": (0, 100),
    "disk_percent": (0, 100),
}
COUNT_FIELDS = ("request_count", "error_count", "timeout_count")
OPTIONAL_INT_FIELDS = ("connections", "queue_depth")
TEXT_FIELDS = {"version": 64, "region": 64}
EVENT_FIELDS = {
    "component",
    "component_name",
    "environment",
    "window_start",
    "window_end",
    "status",
    "metadata",
    *FLOAT_FIELDS,
    *COUNT_FIELDS,
    *OPTIONAL_INT_FIELDS,
    *TEXT_FIELDS,
}
RECORD_FIELDS = {
    "component",
    "component_name",
    "environment",
    "started_at",
    "duration_ms",
    "ok",
    "error_kind",
    "message",
}


@dataclass
class ItemError:
    index: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


class _Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message


def parse_time(value: Any, field: str, now: datetime) -> datetime:
    if isinstance(value, bool):
        raise _Invalid(field, "must be an ISO-8601 timestamp with a time zone, or epoch seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise _Invalid(field, "must be a finite number of epoch seconds")
        moment = datetime.fromtimestamp(value, tz=UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _Invalid(field, f"{value!r} is not an ISO-8601 timestamp") from None
        if moment.tzinfo is None:
            raise _Invalid(field, "needs a time zone (e.g. 2026-01-01T12:00:00Z)")
    else:
        raise _Invalid(field, "must be an ISO-8601 timestamp with a time zone, or epoch seconds")
    if moment > now + MAX_FUTURE:
        raise _Invalid(field, f"is more than {MAX_FUTURE.seconds // 60} minutes in the future")
    if moment < now - MAX_PAST:
        raise _Invalid(field, f"is more than {MAX_PAST.days} days in the past")
    return moment.astimezone(UTC)


def _number(value: Any, field: str, low: float | None, high: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(field, "must be a number")
    if not math.isfinite(value):
        raise _Invalid(field, "must be finite (not NaN or infinity)")
    if low is not None and value < low:
        raise _Invalid(field, f"must be ≥ {low:g}")
    if high is not None and value > high:
        raise _Invalid(field, f"must be ≤ {high:g}")
    return float(value)


def _count(value: object, field: str, *, required_default: int | None) -> int | None:
    if value is None:
        return required_default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise _Invalid(field, "must be a whole number")
    if value < 0:
        raise _Invalid(field, "must be ≥ 0")
    if value > 2**62:
        raise _Invalid(field, "is too large")
    return value


def _component(item: Mapping[str, Any], resolve: Callable[[Any, Any, str], int | None]) -> int:
    ref = item.get("component")
    name = item.get("component_name")
    environment = item.get("environment", "production")
    if ref is None and name is None:
        raise _Invalid("component", "give component (an id) or component_name")
    if ref is not None and (isinstance(ref, bool) or not isinstance(ref, int)):
        raise _Invalid("component", "must be an integer id")
    if name is not None and not isinstance(name, str):
        raise _Invalid("component_name", "must be a string")
    if not isinstance(environment, str):
        raise _Invalid("environment", "must be a string")
    component_id = resolve(ref, name, environment)
    if component_id is None:
        field = "component" if ref is not None else "component_name"
        raise _Invalid(field, f"no component {ref if ref is not None else name!r} of yours")
    return component_id


def _check_unknown(item: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise _Invalid(unknown[0], "is not a known field")


def _each(
    items: Sequence[Any], noun: str, allowed: set[str], clean: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[ItemError]]:
    """Clean rows for valid items, and one error per invalid item (the first problem found in it)."""
    rows: list[dict[str, Any]] = []
    errors: list[ItemError] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, Mapping):
                raise _Invalid("", f"each {noun} must be a JSON object")
            _check_unknown(item, allowed)
            rows.append(clean(item))
        except _Invalid as exc:
            errors.append(ItemError(index, exc.field, exc.message))
    return rows, errors


def validate_events(
    items: Sequence[Any],
    *,
    now: datetime,
    resolve: Callable[[Any, Any, str], int | None],
    default_window: timedelta,
) -> tuple[list[dict[str, Any]], list[ItemError]]:
    def clean(item: Mapping[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"component_id": _component(item, resolve)}
        if "window_start" not in item:
            raise _Invalid("window_start", "is required")
        row["window_start"] = parse_time(item["window_start"], "window_start", now)
        if item.get("window_end") is None:
            row["window_end"] = row["window_start"] + default_window
        else:
            row["window_end"] = parse_time(item["window_end"], "window_end", now + default_window)
            if row["window_end"] <= row["window_start"]:
                raise _Invalid("window_end", "must be after window_start")
        status = item.get("status")
        if status is not None and status not in STATUSES:
            raise _Invalid("status", f"must be one of {', '.join(STATUSES)}")
        row["status"] = status
        for field, (low, high) in FLOAT_FIELDS.items():
            row[field] = _number(item.get(field), field, low, high)
        for field in COUNT_FIELDS:
            row[field] = _count(item.get(field), field, required_default=0)
        for field in OPTIONAL_INT_FIELDS:
            row[field] = _count(item.get(field), field, required_default=None)
        if row["error_count"] > row["request_count"] and row["request_count"]:
            raise _Invalid("error_count", "cannot exceed request_count")
        for field, limit in TEXT_FIELDS.items():
            value = item.get(field, "")
            if not isinstance(value, str) or len(value) > limit:
                raise _Invalid(field, f"must be a string of at most {limit} characters")
            row[field] = value
        metadata = item.get("metadata", {})
        if not isinstance(metadata, dict):
            raise _Invalid("metadata", "must be a JSON object")
        row["metadata"] = metadata
        return row

    return _each(items, "event", EVENT_FIELDS, clean)


def validate_records(
    items: Sequence[Any],
    *,
    now: datetime,
    resolve: Callable[[Any, Any, str], int | None],
    sanitize: Callable[[str], str],
) -> tuple[list[dict[str, Any]], list[ItemError]]:
    def clean(item: Mapping[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"component_id": _component(item, resolve)}
        if "started_at" not in item:
            raise _Invalid("started_at", "is required")
        row["started_at"] = parse_time(item["started_at"], "started_at", now)
        duration = _number(item.get("duration_ms"), "duration_ms", 0, 86_400_000)
        if duration is None:
            raise _Invalid("duration_ms", "is required")
        row["duration_ms"] = duration
        ok = item.get("ok")
        if not isinstance(ok, bool):
            raise _Invalid("ok", "is required and must be true or false")
        row["ok"] = ok
        error_kind = item.get("error_kind", "")
        if not isinstance(error_kind, str) or len(error_kind) > 40:
            raise _Invalid("error_kind", "must be a string of at most 40 characters")
        row["error_kind"] = error_kind
        message = item.get("message", "")
        if not isinstance(message, str):
            raise _Invalid("message", "must be a string")
        # Cut first: the sanitiser (and anything after it) reads a bounded text, whatever was sent.
        row["message"] = sanitize(message[:MESSAGE_READ])[:MESSAGE_LIMIT]
        return row

    return _each(items, "record", RECORD_FIELDS, clean)
