"""The monitoring job: execution records and probe results rolled into one event per component and window
(p50/p95/p99 from PostgreSQL in one query), then the components' status re-decided."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from core314.changes import send_on_commit
from core314.live import publish_on_commit
from health import thresholds
from health.models import Component, SystemHealthEvent
from health.services.ingest import EVENT_COLUMNS
from health.services.status import component_status_refresh, components_mark_stale
from health.signals import health_events_committed

ROLLUP_SQL = """
SELECT component_id, owner_id,
       to_timestamp(floor(extract(epoch FROM started_at) / %(w)s) * %(w)s) AS window_start,
       count(*) FILTER (WHERE source = 'push') AS n_push,
       count(*) FILTER (WHERE source = 'push' AND NOT ok) AS err_push,
       count(*) FILTER (WHERE source = 'probe') AS n_probe,
       count(*) FILTER (WHERE source = 'probe' AND NOT ok) AS err_probe,
       count(*) FILTER (WHERE error_kind = 'timeout') AS timeouts,
       avg(duration_ms) FILTER (WHERE source = 'push') AS avg_push,
       avg(duration_ms) FILTER (WHERE source = 'probe') AS avg_probe,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms)
           FILTER (WHERE source = 'push') AS pct_push,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms)
           FILTER (WHERE source = 'probe') AS pct_probe,
       max(duration_ms) FILTER (WHERE source = 'push') AS max_push,
       max(duration_ms) FILTER (WHERE source = 'probe') AS max_probe,
       {gauges}
  FROM execution_log
 WHERE started_at >= %(start)s AND started_at < %(end)s
 GROUP BY component_id, owner_id, 3
"""
GAUGE_FIELDS = ["cpu_percent", "memory_percent", "disk_percent", "connections", "queue_depth",
                "throughput_rps", "error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"]  # fmt: skip
_GAUGE_SQL = ",\n       ".join(
    f"avg((gauges ->> '{name}')::float) FILTER (WHERE jsonb_typeof(gauges -> '{name}') = 'number') AS g_{name}"
    for name in GAUGE_FIELDS
)

UPSERT_COLUMNS = [c for c in EVENT_COLUMNS if c not in {"version", "region"}]
_UPDATES = ", ".join(
    f"{c} = EXCLUDED.{c}" for c in UPSERT_COLUMNS if c not in {"owner_id", "component_id", "window_start"}
)
# Built from the column constants above; no input reaches the text.
UPSERT_SQL = (
    f"INSERT INTO system_health_events ({', '.join(UPSERT_COLUMNS)}, version, region) "  # noqa: S608 -- see above
    f"VALUES ({', '.join(['%s'] * len(UPSERT_COLUMNS))}, '', '') "
    f"ON CONFLICT (component_id, window_start) WHERE source = 'rollup' DO UPDATE SET {_UPDATES}"
)


def _window_bounds(now: datetime, window_s: int, windows: int, grace_s: float) -> tuple[datetime, datetime]:
    epoch = (now.timestamp() - grace_s) // window_s * window_s
    end = datetime.fromtimestamp(epoch, tz=UTC)
    return end - timedelta(seconds=window_s * windows), end


def _rollup_event(row: Mapping[str, Any], window_s: int, component: Component) -> dict[str, Any]:
    push = row["n_push"] > 0
    pct = row["pct_push"] if push else row["pct_probe"]
    event: dict[str, Any] = {
        "latency_avg_ms": row["avg_push"] if push else row["avg_probe"],
        "latency_p50_ms": pct[0] if pct else None,
        "latency_p95_ms": pct[1] if pct else None,
        "latency_p99_ms": pct[2] if pct else None,
        "latency_max_ms": row["max_push"] if push else row["max_probe"],
        "request_count": row["n_push"],
        "error_count": row["err_push"],
        "timeout_count": row["timeouts"],
        "error_rate": (row["err_push"] / row["n_push"]) if push else None,
        "availability": (1 - row["err_probe"] / row["n_probe"]) if row["n_probe"] else None,
        "throughput_rps": row["n_push"] / window_s if push else None,
        "cpu_percent": None,
        "memory_percent": None,
        "disk_percent": None,
        "connections": None,
        "queue_depth": None,
    }
    if event["availability"] is None and event["error_rate"] is not None:
        event["availability"] = 1 - event["error_rate"]
    # Readings from a scrape or probe describe the service itself, so they win over the probe's own timing.
    for name in GAUGE_FIELDS:
        value = row[f"g_{name}"]
        if value is not None:
            event[name] = round(value) if name in {"connections", "queue_depth"} else value
    for name in ("cpu_percent", "memory_percent", "disk_percent"):
        if event[name] is not None:
            event[name] = min(100.0, max(0.0, event[name]))
    if event["error_rate"] is not None:
        event["error_rate"] = min(1.0, max(0.0, event["error_rate"]))
    limits = thresholds.thresholds_for(component.type, component.thresholds)
    event["status"], reasons = thresholds.evaluate(event, limits)
    event["metadata"] = {
        "probe_checks": row["n_probe"],
        "probe_failures": row["err_probe"],
        "status_reason": ", ".join(reasons),
    }
    return event


def health_rollup(*, now: datetime | None = None, windows: int = 2, grace_s: float | None = None) -> int:
    """Roll execution records and probe results into one event per component and closed window.

    Recomputes the last ``windows`` closed windows (so late records still count) with an upsert on
    (component, window_start). Percentiles come from PostgreSQL's percentile_cont, in one query.
    Runs under an advisory lock: a second, overlapping run returns at once.
    """
    now = now or timezone.now()
    window_s = settings.CORE314_ROLLUP_INTERVAL
    # Wait a little after a window closes for records still in flight (later ones are caught by the
    # recomputation of the last ``windows`` windows): half a window, at most 2 s.
    grace_s = min(2.0, window_s / 2) if grace_s is None else grace_s
    start, end = _window_bounds(now, window_s, windows, grace_s)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext('core314.health_rollup'))")
            if not cursor.fetchone()[0]:
                return 0
            cursor.execute(ROLLUP_SQL.format(gauges=_GAUGE_SQL), {"w": window_s, "start": start, "end": end})
            names = [col.name for col in cursor.description]
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        components = Component.objects.in_bulk({r["component_id"] for r in rows})
        params = []
        for row in rows:
            component = components[row["component_id"]]
            event = _rollup_event(row, window_s, component)
            values = {
                "owner_id": row["owner_id"],
                "component_id": row["component_id"],
                "window_start": row["window_start"],
                "window_end": row["window_start"] + timedelta(seconds=window_s),
                "source": "rollup",
                "created_at": now,
                **event,
            }
            values["metadata"] = Jsonb(values["metadata"])
            params.append([values[c] for c in UPSERT_COLUMNS])
        if params:
            with connection.cursor() as cursor:
                cursor.executemany(UPSERT_SQL, params)
        touched = sorted(components)
        component_status_refresh(component_ids=touched, now=now)
        components_mark_stale(now=now)
        for component in components.values():
            publish_on_commit(row=component, event="health.rollup", data={"component": component.pk})
        if touched:
            send_on_commit(health_events_committed, sender=SystemHealthEvent, component_ids=list(touched))
    return len(params)
