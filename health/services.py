"""Health: components, ingest of pushed events and execution records, probes, the monitoring job."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Greatest
from django.utils import timezone
from psycopg.types.json import Jsonb

from core314 import metrics
from core314.audit import audit_record
from core314.live import publish_on_commit
from core314.redact import redact
from core314.services import ConflictError, DomainError
from core314.tenancy import Actor, effective_owner
from health import ingest, probes, thresholds
from health.models import (
    Component,
    ComponentStatus,
    ComponentType,
    ExecutionRecord,
    Probe,
    SystemHealthEvent,
)
from health.signals import health_events_committed, probe_outcomes_recorded, probes_due

logger = logging.getLogger(__name__)

# The platform's own parts, watched like any other component (ARCHITECTURE: "monitors its own parts").
PLATFORM_COMPONENTS: list[tuple[str, str, str]] = [
    ("core314-web", ComponentType.API, "Core314 web and API servers (daphne)"),
    ("core314-postgresql", ComponentType.DATABASE, "The platform's PostgreSQL database"),
    ("core314-redis", ComponentType.CACHE, "Broker, channel layer and cache"),
    ("core314-worker", ComponentType.WORKER, "Celery workers"),
    ("core314-beat", ComponentType.WORKER, "Celery beat scheduler"),
    ("core314-selftest", ComponentType.WORKER, "The platform's scheduled self-tests (a failing check shows here)"),
]


class IngestError(DomainError):
    """A batch with invalid items: nothing was stored. ``errors`` names each bad item and field."""

    def __init__(self, message: str, errors: Sequence[ingest.ItemError] = ()) -> None:
        super().__init__(message)
        self.errors = [e.as_dict() for e in errors]


@dataclass
class IngestResult:
    stored: int
    components: list[int] = field(default_factory=list)
    at: datetime | None = None  # the batch's created_at: with the component, it finds the stored rows


# --- Components ------------------------------------------------------------------------------------


@transaction.atomic
def component_create(
    *,
    actor: Actor,
    name: str,
    type: str = ComponentType.API,
    environment: str = "production",
    description: str = "",
    tags: list[str] | None = None,
    is_platform: bool = False,
    owner: Any = None,
    depends_on: Iterable[Component] = (),
) -> Component:
    owner = owner or effective_owner(actor)
    if Component.objects.filter(owner=owner, name=name, environment=environment).exists():
        raise ConflictError(f"A component named {name!r} already exists in {environment!r}.")
    component = Component.objects.create(
        owner=owner,
        name=name,
        type=type,
        environment=environment,
        description=description,
        tags=tags or [],
        is_platform=is_platform,
    )
    component.depends_on.set([d for d in depends_on if d.owner_id == owner.pk])
    audit_record(
        actor=actor,
        action="component.create",
        target=component,
        after={"name": name, "type": type, "environment": environment},
    )
    publish_on_commit(row=component, event="component.created", data={"name": name})
    return component


@transaction.atomic
def component_update_settings(
    *,
    actor: Actor,
    component: Component,
    thresholds_override: Mapping[str, Any] | None = None,
    flap_bad_n: int | None = None,
    flap_window_m: int | None = None,
    flap_recover_k: int | None = None,
    stale_after_s: int | None = None,
) -> Component:
    """Change a component's status thresholds, flap damping or staleness; validated, audited."""
    component = Component.objects.select_for_update().get(pk=component.pk)
    before = {
        "thresholds": component.thresholds,
        "flap": [component.flap_bad_n, component.flap_window_m, component.flap_recover_k],
        "stale_after_s": component.stale_after_s,
    }
    if thresholds_override is not None:
        problems = thresholds.validate_thresholds(thresholds_override)
        if problems:
            raise DomainError("; ".join(problems))
        component.thresholds = dict(thresholds_override)
    n = flap_bad_n if flap_bad_n is not None else component.flap_bad_n
    m = flap_window_m if flap_window_m is not None else component.flap_window_m
    k = flap_recover_k if flap_recover_k is not None else component.flap_recover_k
    if not (1 <= n <= m <= 20 and 1 <= k <= 20):
        raise DomainError("Flap damping needs 1 ≤ N ≤ M ≤ 20 and 1 ≤ K ≤ 20.")
    component.flap_bad_n, component.flap_window_m, component.flap_recover_k = n, m, k
    if stale_after_s is not None:
        if not 5 <= stale_after_s <= 86_400:
            raise DomainError("stale_after_s must be between 5 and 86400 seconds.")
        component.stale_after_s = stale_after_s
    component.save()
    after = {
        "thresholds": component.thresholds,
        "flap": [component.flap_bad_n, component.flap_window_m, component.flap_recover_k],
        "stale_after_s": component.stale_after_s,
    }
    audit_record(actor=actor, action="component.update_settings", target=component, before=before, after=after)
    publish_on_commit(row=component, event="component.updated", data={"name": component.name})
    return component


@transaction.atomic
def platform_components_ensure(*, actor: Actor, owner: Any, web_url: str | None = None) -> list[Component]:
    """The platform's own components and their probes for ``owner``, created where missing."""
    existing = {c.name: c for c in Component.objects.filter(owner=owner, is_platform=True)}
    by_name: dict[str, Component] = {}
    for name, type_, description in PLATFORM_COMPONENTS:
        component = existing.get(name) or component_create(
            actor=actor,
            owner=owner,
            name=name,
            type=type_,
            description=description,
            tags=["platform"],
            is_platform=True,
        )
        by_name[name] = component
    for dependent in ("core314-web", "core314-worker", "core314-beat"):
        by_name[dependent].depends_on.add(by_name["core314-postgresql"], by_name["core314-redis"])
    database = settings.DATABASES["default"]
    dsn = (
        f"postgresql://{database.get('USER') or 'postgres'}@{database.get('HOST') or '127.0.0.1'}:"
        f"{database.get('PORT') or 5432}/{database['NAME']}"
    )
    wanted = [
        (by_name["core314-postgresql"], "postgres", dsn),
        (by_name["core314-redis"], "redis", settings.REDIS_URL),
        (by_name["core314-worker"], "platform", "worker"),
        (by_name["core314-beat"], "platform", "beat"),
    ]
    if web_url:
        wanted.append((by_name["core314-web"], "http", f"{web_url.rstrip('/')}/healthz"))
    for component, kind, target in wanted:
        if not Probe.objects.filter(component=component, kind=kind).exists():
            probe_create(actor=actor, component=component, kind=kind, target=target, interval_s=10, timeout_s=3)
    return list(by_name.values())


# --- Probes --------------------------------------------------------------------------------------------


@transaction.atomic
def probe_create(
    *,
    actor: Actor,
    component: Component,
    kind: str,
    target: str,
    interval_s: int = 10,
    timeout_s: float = 2.0,
    expected_status: int | None = 200,
    body_match: str = "",
    options: Mapping[str, Any] | None = None,
    enabled: bool = True,
) -> Probe:
    if kind not in {k for k, _ in Probe._meta.get_field("kind").choices}:
        raise DomainError(f"Unknown probe kind {kind!r}.")
    if not 1 <= interval_s <= 86_400 or not 0 < timeout_s <= 60:
        raise DomainError("interval_s must be 1..86400 and timeout_s 0..60 seconds.")
    probe = Probe.objects.create(
        owner=component.owner,
        component=component,
        kind=kind,
        target=target,
        interval_s=interval_s,
        timeout_s=timeout_s,
        expected_status=expected_status,
        body_match=body_match,
        options=dict(options or {}),
        enabled=enabled,
    )
    audit_record(
        actor=actor,
        action="probe.create",
        target=probe,
        after={"kind": kind, "target": redact(target), "interval_s": interval_s},
    )
    return probe


def _platform_probe(spec: probes.ProbeSpec) -> probes.ProbeOutcome:
    from core314 import selectors as platform

    started = time.perf_counter()
    if spec.target == "worker":
        ages = platform.worker_heartbeats()
        fresh = [age for age in ages.values() if age <= settings.CORE314_WORKER_HEARTBEAT_MAX_AGE]
        elapsed = (time.perf_counter() - started) * 1000
        queue = platform.queue_depth()
        if not fresh:
            return probes.ProbeOutcome(False, elapsed, "no_heartbeat", "no live Celery worker", {"queue_depth": queue})
        return probes.ProbeOutcome(True, elapsed, message=f"{len(fresh)} worker(s)", gauges={"queue_depth": queue})
    age = platform.beat_age()
    elapsed = (time.perf_counter() - started) * 1000
    if age is None or age > settings.CORE314_BEAT_MAX_AGE:
        return probes.ProbeOutcome(False, elapsed, "no_tick", "Celery beat is not ticking")
    return probes.ProbeOutcome(True, elapsed, message=f"last tick {age:.1f} s ago")


RUNNERS = {**probes.RUNNERS, "platform": _platform_probe}


def _claim_due_probes(now: datetime, limit: int) -> list[int]:
    """Claim due probes with one conditional UPDATE, so several workers never run the same probe twice."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE health_probe SET last_run_at = %(now)s,
                   next_run_at = %(now)s + make_interval(secs => interval_s)
             WHERE id IN (SELECT id FROM health_probe
                           WHERE enabled AND next_run_at <= %(now)s
                           ORDER BY next_run_at
                           LIMIT %(limit)s
                           FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            {"now": now, "limit": limit},
        )
        return [row[0] for row in cursor.fetchall()]


def probes_run_due(*, now: datetime | None = None, limit: int = 100, workers: int = 8) -> int:
    """Run every due probe (in parallel, each bounded by its timeout) and store its outcome."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = _claim_due_probes(now, limit)
    if not ids:
        return 0
    due = list(Probe.objects.filter(pk__in=ids).select_related("component"))
    gate: dict[int, str] = {}
    for _, answer in probes_due.send(sender=Probe, component_ids=[p.component_id for p in due], now=now):
        gate.update(answer or {})
    skipped = [p for p in due if gate.get(p.component_id) == "open"]
    due = [p for p in due if gate.get(p.component_id) != "open"]
    # An open breaker refuses traffic: the probe does not call. Nothing is recorded either: a refusal is not
    # an outage of the component, and recording it as one would make the platform "heal" its own breaker.
    if not due:
        return len(skipped)
    specs = [
        probes.ProbeSpec(p.kind, p.target, p.timeout_s, p.expected_status, p.body_match, p.options, p.state)
        for p in due
    ]
    with ThreadPoolExecutor(max_workers=min(workers, len(specs))) as pool:
        outcomes = list(pool.map(lambda spec: probes.run(spec, RUNNERS), specs))
    probe_outcomes_store(probes_and_outcomes=list(zip(due, outcomes, strict=True)), at=now)
    trials = {p.component_id for p in due if gate.get(p.component_id) == "half_open"}
    probe_outcomes_recorded.send(
        sender=Probe,
        outcomes=[(p.component_id, o.ok) for p, o in zip(due, outcomes, strict=True)],
        trials=trials,
        now=now,
    )
    return len(due) + len(skipped)


@transaction.atomic
def probe_outcomes_store(*, probes_and_outcomes: list[tuple[Probe, probes.ProbeOutcome]], at: datetime) -> None:
    records = []
    for probe, outcome in probes_and_outcomes:
        records.append(
            ExecutionRecord(
                owner_id=probe.owner_id,
                component_id=probe.component_id,
                started_at=at,
                duration_ms=max(0.0, outcome.duration_ms),
                ok=outcome.ok,
                error_kind=outcome.error_kind,
                message=redact(outcome.message),
                source=ExecutionRecord.Source.PROBE,
                gauges=outcome.gauges or None,
            )
        )
        probe.last_ok = outcome.ok
        probe.last_error = "" if outcome.ok else redact(outcome.message, limit=300)
        if outcome.state is not None:
            probe.state = outcome.state
    ExecutionRecord.objects.bulk_create(records)
    Probe.objects.bulk_update([p for p, _ in probes_and_outcomes], ["last_ok", "last_error", "state"])
    _touch_components({p.component_id for p, _ in probes_and_outcomes}, at)


def _touch_components(component_ids: Iterable[int], at: datetime) -> None:
    Component.objects.filter(pk__in=list(component_ids)).update(last_report_at=Greatest("last_report_at", at))


# --- Ingest --------------------------------------------------------------------------------------------


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


EVENT_COLUMNS = [
    "owner_id", "component_id", "window_start", "window_end", "source", "status",
    "latency_avg_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms",
    "request_count", "error_count", "timeout_count", "error_rate", "availability", "throughput_rps",
    "cpu_percent", "memory_percent", "disk_percent", "connections", "queue_depth",
    "version", "region", "metadata", "created_at",
]  # fmt: skip


RECORD_COLUMNS = ["owner_id", "component_id", "started_at", "duration_ms", "ok", "error_kind", "message", "source",
                  "created_at"]  # fmt: skip


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
    rows, errors = ingest.validate_events(items, now=now, resolve=resolve, default_window=window)
    if errors:
        raise IngestError(f"{len(errors)} of {len(items)} events are invalid; nothing was stored.", errors)
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
    _touch_components(touched, now)
    component_status_refresh(component_ids=touched, now=now)
    _after_ingest(touched, components, "health_event", len(rows))
    return IngestResult(stored=len(rows), components=touched, at=now)


@transaction.atomic
def execution_records_ingest(*, actor: Actor, items: Any, now: datetime | None = None) -> IngestResult:
    """Store a batch of execution records (one per call a service made), all or nothing."""
    now = now or timezone.now()
    items = _check_batch(items, settings.CORE314_INGEST_RECORD_LIMIT, "records")
    resolve, components = _resolver(actor)
    rows, errors = ingest.validate_records(items, now=now, resolve=resolve, sanitize=redact)
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
    _touch_components(touched, now)
    _after_ingest(touched, components, "execution_record", len(rows))
    return IngestResult(stored=len(rows), components=touched, at=now)


def _after_ingest(touched: list[int], components: Mapping[int, Component], kind: str, count: int) -> None:
    # One live message per component and batch, not per row: pages refetch what they show.
    for component_id in touched:
        component = components[component_id]
        publish_on_commit(row=component, event=f"health.{kind}s_ingested", data={"component": component_id})
    transaction.on_commit(lambda: metrics.incr("core314_ingested_events", {"kind": kind}, count))
    if kind == "health_event":
        _announce_events(touched)


def _announce_events(component_ids: list[int]) -> None:
    """After commit, tell listeners (detection) which components have new events."""
    ids = list(component_ids)
    transaction.on_commit(lambda: health_events_committed.send(sender=SystemHealthEvent, component_ids=ids))


# --- Status ----------------------------------------------------------------------------------------------


def component_status_refresh(*, component_ids: Iterable[int], now: datetime) -> list[Component]:
    """Re-decide each component's status from its latest events with flap damping; audit each change."""
    changed = []
    for component in Component.objects.select_for_update().filter(pk__in=list(component_ids)).order_by("pk"):
        recent = list(
            SystemHealthEvent.objects.filter(component=component)
            .exclude(source="selftest")
            .order_by("-window_start", "-id")
            .values_list("status", "metadata")[: max(component.flap_window_m, component.flap_recover_k)]
        )
        if not recent:
            continue
        statuses = [status for status, _ in recent]
        new = thresholds.damp(
            component.status,
            statuses,
            bad_n=component.flap_bad_n,
            window_m=component.flap_window_m,
            recover_k=component.flap_recover_k,
        )
        if new != component.status:
            reason = (recent[0][1] or {}).get("status_reason", "") if isinstance(recent[0][1], dict) else ""
            _set_status(component, new, reason or f"last windows: {', '.join(statuses)}", now)
            changed.append(component)
    return changed


def _set_status(component: Component, new: str, reason: str, now: datetime) -> None:
    before = component.status
    component.status = new
    component.status_reason = reason[:300]
    component.status_changed_at = now
    component.save(update_fields=["status", "status_reason", "status_changed_at"])
    audit_record(
        actor=None,
        system_label="monitor",
        action="component.status_change",
        target=component,
        before={"status": before},
        after={"status": new},
        reason=reason,
    )
    publish_on_commit(row=component, event="component.status_changed", data={"status": new, "previous": before})


def components_mark_stale(*, now: datetime) -> list[Component]:
    """A component that stops reporting becomes stale after its silence limit instead of staying healthy."""
    stale = []
    candidates = Component.objects.select_for_update(skip_locked=True).exclude(
        status__in=[ComponentStatus.STALE, ComponentStatus.UNKNOWN]
    )
    for component in candidates:
        silent_since = component.last_report_at or component.status_changed_at or component.created_at
        if now - silent_since > timedelta(seconds=component.stale_after_s):
            _set_status(component, ComponentStatus.STALE, f"no report for {component.stale_after_s} s", now)
            stale.append(component)
    return stale


# --- The monitoring job --------------------------------------------------------------------------------

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
    f"INSERT INTO system_health_events ({', '.join(UPSERT_COLUMNS)}, version, region) "  # noqa: S608
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
            _announce_events(touched)
    return len(params)


# --- Retention -------------------------------------------------------------------------------------------


def health_retention_purge(
    *, now: datetime | None = None, days: int | None = None, batch: int = 5000
) -> dict[str, int]:
    """Delete events and execution records older than ``days``, a batch per transaction (short locks)."""
    now = now or timezone.now()
    days = days if days is not None else settings.CORE314_RETENTION_DAYS
    cutoff = now - timedelta(days=days)
    removed = {}
    for table, column in (("system_health_events", "window_start"), ("execution_log", "started_at")):
        total = 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE id IN "  # noqa: S608 -- table and column are constants above
                    f"(SELECT id FROM {table} WHERE {column} < %s LIMIT %s FOR UPDATE SKIP LOCKED)",
                    [cutoff, batch],
                )
                total += cursor.rowcount
                if cursor.rowcount < batch:
                    break
        removed[table] = total
    from core314.models import IdempotencyKey

    removed["idempotency_keys"] = IdempotencyKey.objects.filter(created_at__lt=now - timedelta(days=1)).delete()[0]
    with transaction.atomic():
        audit_record(
            actor=None,
            system_label="retention",
            action="health.retention_purge",
            after=removed | {"days": days},
            reason=f"older than {cutoff.isoformat()}",
        )
    logger.info("retention removed %s", removed)
    return removed
