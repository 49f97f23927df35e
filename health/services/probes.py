"""Probes: created, claimed when due, run in parallel (the runners are ``health.probe_runners``), and their
outcomes stored as execution records."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core314 import egress
from core314.changes import record_change
from core314.redact import SECRET_SHOWN, redact, url_shown
from core314.services import DomainError, FieldError
from core314.tenancy import Actor
from health import probe_runners
from health.models import Component, ExecutionRecord, Probe, ProbeKind
from health.probe_runners import ProbeOutcome, ProbeSpec
from health.services.status import components_mark_reported
from health.signals import probe_outcomes_recorded, probes_due

logger = logging.getLogger(__name__)


# The egress guard's kind for each probe kind that connects somewhere (``platform`` reads heartbeats).
EGRESS_KINDS = {"http": "http", "prometheus": "http", "tcp": "tcp", "postgres": "postgres", "redis": "redis"}


def _probe_check(*, kind: str, target: str, interval_s: int, timeout_s: float, options: Any, privileged: bool) -> None:
    if kind not in ProbeKind.values:
        raise DomainError(f"Unknown probe kind {kind!r}.")
    if not 1 <= interval_s <= 86_400 or not 0 < timeout_s <= 60:
        raise DomainError("interval_s must be 1..86400 and timeout_s 0..60 seconds.")
    if options is not None and not isinstance(options, Mapping):
        raise DomainError("options must be a JSON object.")
    if kind in EGRESS_KINDS:
        try:
            egress.policy_for(privileged=privileged).check(EGRESS_KINDS[kind], target)
        except egress.EgressRefused as exc:
            raise FieldError("target", str(exc)) from exc


def _egress_policies(probes: list[Probe]) -> dict[int, egress.EgressPolicy]:
    """Each probe's policy at connect time: an administrator's probe may reach loopback and the platform."""
    by_privilege = {flag: egress.policy_for(privileged=flag) for flag in (False, True)}
    return {p.pk: by_privilege[egress.owner_privileged(p.owner)] for p in probes}


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
    _probe_check(
        kind=kind,
        target=target,
        interval_s=interval_s,
        timeout_s=timeout_s,
        options=options,
        privileged=egress.save_privileged(actor=actor, owner=component.owner),
    )
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
    record_change(
        actor=actor,
        action="probe.create",
        target=probe,
        after={"kind": kind, "target": redact(target), "interval_s": interval_s},
    )
    return probe


PROBE_FIELDS = ("kind", "target", "interval_s", "timeout_s", "expected_status", "body_match", "options", "enabled")


def _target_kept(stored: str, submitted: Any) -> Any:
    """A target edited from its shown form: left exactly as shown, it keeps the stored secret. A masked password
    moved elsewhere is refused: a secret never follows an edit it was not typed into."""
    if submitted == url_shown(stored):
        return stored
    if isinstance(submitted, str) and SECRET_SHOWN in submitted:
        raise FieldError("target", "give the password again (or leave the target exactly as shown to keep it)")
    return submitted


@transaction.atomic
def probe_update(*, actor: Actor, probe: Probe, **fields: Any) -> Probe:
    """Change what a probe checks and how often; validated as at creation, audited (the target redacted)."""
    unknown = set(fields) - set(PROBE_FIELDS)
    if unknown:
        raise DomainError(f"Unknown probe field(s): {', '.join(sorted(unknown))}.")
    probe = Probe.objects.select_for_update().get(pk=probe.pk)
    if "target" in fields:
        fields["target"] = _target_kept(probe.target, fields["target"])
    merged = {name: fields.get(name, getattr(probe, name)) for name in PROBE_FIELDS}
    _probe_check(
        kind=merged["kind"],
        target=merged["target"],
        interval_s=merged["interval_s"],
        timeout_s=merged["timeout_s"],
        options=merged["options"],
        privileged=egress.save_privileged(actor=actor, owner=probe.owner),
    )
    before = {name: redact(str(getattr(probe, name))) for name in fields}
    for name, value in fields.items():
        setattr(probe, name, dict(value) if name == "options" else value)
    probe.save()
    record_change(
        actor=actor,
        action="probe.update",
        target=probe,
        before=before,
        after={name: redact(str(getattr(probe, name))) for name in fields},
    )
    return probe


def _platform_probe(spec: ProbeSpec) -> ProbeOutcome:
    from core314 import selectors as platform

    started = time.perf_counter()
    if spec.target == "worker":
        ages = platform.worker_heartbeats()
        fresh = [age for age in ages.values() if age <= settings.CORE314_WORKER_HEARTBEAT_MAX_AGE]
        elapsed = (time.perf_counter() - started) * 1000
        queue = platform.queue_depth()
        if not fresh:
            return ProbeOutcome(False, elapsed, "no_heartbeat", "no live Celery worker", {"queue_depth": queue})
        return ProbeOutcome(True, elapsed, message=f"{len(fresh)} worker(s)", gauges={"queue_depth": queue})
    age = platform.beat_age()
    elapsed = (time.perf_counter() - started) * 1000
    if age is None or age > settings.CORE314_BEAT_MAX_AGE:
        return ProbeOutcome(False, elapsed, "no_tick", "Celery beat is not ticking")
    return ProbeOutcome(True, elapsed, message=f"last tick {age:.1f} s ago")


RUNNERS = {**probe_runners.RUNNERS, "platform": _platform_probe}


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


def _gates(component_ids: list[int], now: datetime) -> dict[int, str]:
    """Ask the receivers of ``probes_due`` (circuit breakers) which components to skip or trial. A receiver
    that fails is logged and left out: it cannot stop the probes."""
    gate: dict[int, str] = {}
    for receiver, answer in probes_due.send_robust(sender=Probe, component_ids=component_ids, now=now):
        if isinstance(answer, Exception):
            logger.error("probes_due receiver %r failed; probing without its answer", receiver, exc_info=answer)
            continue
        gate.update(answer or {})
    return gate


def probes_run_due(*, now: datetime | None = None, limit: int = 100, workers: int = 8) -> int:
    """Run every due probe (in parallel, each bounded by its timeout) and store its outcome."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = _claim_due_probes(now, limit)
    if not ids:
        return 0
    due = list(Probe.objects.filter(pk__in=ids).select_related("component", "owner"))
    gate = _gates([p.component_id for p in due], now)
    skipped = [p for p in due if gate.get(p.component_id) == "open"]
    due = [p for p in due if gate.get(p.component_id) != "open"]
    # An open breaker refuses traffic: the probe does not call. Nothing is recorded either: a refusal is not
    # an outage of the component, and recording it as one would make the platform "heal" its own breaker.
    if not due:
        return len(skipped)
    policies = _egress_policies(due)
    specs = [
        ProbeSpec(
            p.kind, p.target, p.timeout_s, p.expected_status, p.body_match, p.options, p.state, egress=policies[p.pk]
        )
        for p in due
    ]
    with ThreadPoolExecutor(max_workers=min(workers, len(specs))) as pool:
        outcomes = list(pool.map(lambda spec: probe_runners.run(spec, RUNNERS), specs))
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
def probe_outcomes_store(*, probes_and_outcomes: list[tuple[Probe, ProbeOutcome]], at: datetime) -> None:
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
    components_mark_reported(component_ids={p.component_id for p, _ in probes_and_outcomes}, at=at)
