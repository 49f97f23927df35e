"""Ingest: batches of pushed health events and execution records, validated in one pass
(``health.validation``), written with COPY, all or nothing; detection is told after commit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from psycopg.types.json import Jsonb

from core314 import metrics
from core314.changes import send_on_commit
from core314.live import publish_on_commit
from core314.redact import redact
from core314.services import DomainError
from core314.tenancy import Actor, effective_owner
from health import thresholds, validation
from health.models import Component, ExecutionRecord, SystemHealthEvent
from health.services.status import component_status_refresh, components_mark_reported
from health.signals import health_events_committed


class IngestError(DomainError):
    """A batch with invalid items: nothing was stored. ``errors`` names each bad item and field."""

    def __init__(self, message: str, errors: Sequence[validation.ItemError] = ()) -> None:
        super().__init__(message)
        self.errors = [e.as_dict() for e in errors]


@dataclass
class IngestResult:
    stored: int
    at: datetime  # the batch's created_at: with the component, it finds the stored rows
    components: list[int] = field(default_factory=list)
    # Real collectors resend a window or deliver one late: a window already sent (in this batch or an earlier
    # one) is replaced by the newest copy, one older than the component's newest is stored and counted.
    duplicates: int = 0
    late: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"stored": self.stored, "components": self.components, "duplicates": self.duplicates, "late": self.late}


def _merge_windows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int, int]:
    """One pushed event per component and window: within the batch the last copy wins; a copy stored by an
    earlier batch is deleted (replaced). Returns the rows to store, the duplicates merged and the late ones."""
    by_window: dict[tuple[int, datetime], dict[str, Any]] = {}
    for row in rows:
        by_window[(row["component_id"], row["window_start"])] = row
    merged = list(by_window.values())
    duplicates = len(rows) - len(merged)
    ids = sorted({component_id for component_id, _ in by_window})
    events = SystemHealthEvent.objects.filter(component_id__in=ids, source="push")
    newest = dict(events.order_by().values("component_id").annotate(newest=Max("window_start")).values_list(
        "component_id", "newest"
    ))  # fmt: skip
    older = [(cid, start) for cid, start in by_window if newest.get(cid) is not None and start <= newest[cid]]
    if not older:
        return merged, duplicates, 0
    resent = Q()
    for cid, start in older:
        resent |= Q(component_id=cid, window_start=start)
    existing = set(events.filter(resent).values_list("component_id", "window_start"))
    if existing:
        duplicates += events.filter(resent).delete()[0]
    return merged, duplicates, len(older) - len(existing)


EVENT_COLUMNS = [
    "owner_id", "component_id", "window_start", "window_end", "source", "status",
    "latency_avg_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms",
    "request_count", "error_count", "timeout_count", "error_rate", "availability", "throughput_rps",
    "cpu_percent", "memory_percent", "disk_percent", "connections", "queue_depth",
    "version", "region", "metadata", "created_at",
]  # fmt: skip


RECORD_COLUMNS = ["owner_id", "component_id", "started_at", "duration_ms", "ok", "error_kind", "message", "source",
                  "created_at"]  # fmt: skip


def _resolver(actor: Actor) -> tuple[Any, dict[int, Component]]:
    components = {c.pk: c for c in Component.objects.visible_to(actor)}
    owner_id = getattr(effective_owner(actor), "pk", None)
    by_name: dict[tuple[str, str], Component] = {}
    for c in components.values():
        # A name is the caller's own component; an administrator names another user's by id.
        if c.owner_id == owner_id or (c.name, c.environment) not in by_name:
            by_name[(c.name, c.environment)] = c

    def resolve(ref: Any, name: Any, environment: str) -> int | None:
        if ref is not None:
            return ref if ref in components else None
        found = by_name.get((name, environment))
        return found.pk if found else None

    return resolve, components


def _check_batch(items: Any, limit: int, noun: str) -> Sequence[Any]:
    if not isinstance(items, list):
        raise IngestError(f"{noun} must be a JSON array.")
    if not items:
        raise IngestError(f"{noun} is empty.")
    if len(items) > limit:
        raise IngestError(f"The batch has {len(items)} {noun}; the limit is {limit}.")
    return items


def _copy(table: str, columns: list[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write rows with PostgreSQL COPY: one round trip for the batch, no statement per row."""
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _metrics_of(row: Mapping[str, Any]) -> dict[str, float | None]:
    return {k: row.get(k) for k in ("latency_p95_ms", "error_rate", "availability", "cpu_percent",
                                     "memory_percent", "disk_percent", "queue_depth")}  # fmt: skip


@transaction.atomic
def health_events_ingest(*, actor: Actor, items: Any, now: datetime | None = None) -> IngestResult:
    """Store a batch of pushed health events, all or nothing. A missing status comes from thresholds."""
    now = now or timezone.now()
    items = _check_batch(items, settings.CORE314_INGEST_BATCH_LIMIT, "events")
    resolve, components = _resolver(actor)
    window = timedelta(seconds=settings.CORE314_ROLLUP_INTERVAL)
    rows, errors = validation.validate_events(items, now=now, resolve=resolve, default_window=window)
    if errors:
        raise IngestError(f"{len(errors)} of {len(items)} events are invalid; nothing was stored.", errors)
    rows, duplicates, late = _merge_windows(rows)
    for row in rows:
        if row["status"] is None:
            component = components[row["component_id"]]
            limits = thresholds.thresholds_for(component.type, component.thresholds)
            row["status"], _ = thresholds.evaluate(_metrics_of(row), limits)
    _copy(
        SystemHealthEvent._meta.db_table,
        EVENT_COLUMNS,
        (
            [components[r["component_id"]].owner_id, r["component_id"], r["window_start"], r["window_end"], "push",
             r["status"], r["latency_avg_ms"], r["latency_p50_ms"], r["latency_p95_ms"], r["latency_p99_ms"],
             r["latency_max_ms"], r["request_count"], r["error_count"], r["timeout_count"], r["error_rate"],
             r["availability"], r["throughput_rps"], r["cpu_percent"], r["memory_percent"], r["disk_percent"],
             r["connections"], r["queue_depth"], r["version"], r["region"], Jsonb(r["metadata"]), now]
            for r in rows
        ),
    )  # fmt: skip
    touched = sorted({r["component_id"] for r in rows})
    components_mark_reported(component_ids=touched, at=now)
    component_status_refresh(component_ids=touched, now=now)
    _after_ingest(touched, components, "health_event", len(rows))
    return IngestResult(stored=len(rows), components=touched, at=now, duplicates=duplicates, late=late)


@transaction.atomic
def execution_records_ingest(*, actor: Actor, items: Any, now: datetime | None = None) -> IngestResult:
    """Store a batch of execution records (one per call a service made), all or nothing."""
    now = now or timezone.now()
    items = _check_batch(items, settings.CORE314_INGEST_RECORD_LIMIT, "records")
    resolve, components = _resolver(actor)
    rows, errors = validation.validate_records(items, now=now, resolve=resolve, sanitize=redact)
    if errors:
        raise IngestError(f"{len(errors)} of {len(items)} records are invalid; nothing was stored.", errors)
    _copy(
        ExecutionRecord._meta.db_table,
        RECORD_COLUMNS,
        (
            [components[r["component_id"]].owner_id, r["component_id"], r["started_at"], r["duration_ms"], r["ok"],
             r["error_kind"], r["message"], "push", now]
            for r in rows
        ),
    )  # fmt: skip
    touched = sorted({r["component_id"] for r in rows})
    components_mark_reported(component_ids=touched, at=now)
    _after_ingest(touched, components, "execution_record", len(rows))
    return IngestResult(stored=len(rows), components=touched, at=now)


def _after_ingest(touched: list[int], components: Mapping[int, Component], kind: str, count: int) -> None:
    # One live message per component and batch, not per row: pages refetch what they show.
    for component_id in touched:
        component = components[component_id]
        publish_on_commit(row=component, event=f"health.{kind}s_ingested", data={"component": component_id})
    transaction.on_commit(lambda: metrics.incr("core314_ingested_events", {"kind": kind}, count))
    if kind == "health_event":
        # Detection listens: after commit, robustly (a broker hiccup must not undo or fail a stored batch).
        send_on_commit(health_events_committed, sender=SystemHealthEvent, component_ids=list(touched))
