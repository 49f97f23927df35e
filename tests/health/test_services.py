from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from core314.models import AuditLogEntry
from health import services
from health.models import ExecutionRecord, SystemHealthEvent
from tests.factories import ComponentFactory, ExecutionRecordFactory, HealthEventFactory

pytestmark = pytest.mark.django_db

W = 10  # the roll-up window in these tests (CORE314_ROLLUP_INTERVAL)


@pytest.fixture(autouse=True)
def _window(settings: Any) -> None:
    settings.CORE314_ROLLUP_INTERVAL = W


def _window_start(now: dt.datetime) -> dt.datetime:
    """The start of the newest window the roll-up at ``now`` closes (grace 2 s)."""
    epoch = (now.timestamp() - 2) // W * W - W
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def test_rollup_percentiles_equal_numpy_on_the_same_data(owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    now = timezone.now()
    start = _window_start(now)
    rng = np.random.default_rng(7)
    durations = rng.lognormal(mean=4, sigma=0.8, size=500)
    oks = rng.random(500) > 0.03
    ExecutionRecord.objects.bulk_create(
        ExecutionRecord(
            owner=owner, component=component, started_at=start + dt.timedelta(seconds=float(i % W) + 0.5),
            duration_ms=float(d), ok=bool(ok), error_kind="" if ok else "http_500",
        )
        for i, (d, ok) in enumerate(zip(durations, oks, strict=True))
    )  # fmt: skip
    assert services.health_rollup(now=now) == 1
    event = SystemHealthEvent.objects.get(component=component, source="rollup")
    assert event.window_start == start and event.window_end == start + dt.timedelta(seconds=W)
    # PostgreSQL's percentile_cont interpolates linearly, as numpy's default does.
    assert event.latency_p50_ms == pytest.approx(np.percentile(durations, 50), rel=1e-9)
    assert event.latency_p95_ms == pytest.approx(np.percentile(durations, 95), rel=1e-9)
    assert event.latency_p99_ms == pytest.approx(np.percentile(durations, 99), rel=1e-9)
    assert event.latency_avg_ms == pytest.approx(durations.mean(), rel=1e-9)
    assert event.latency_max_ms == pytest.approx(durations.max())
    assert event.request_count == 500
    assert event.error_count == int((~oks).sum())
    assert event.error_rate == pytest.approx((~oks).mean())
    assert event.throughput_rps == pytest.approx(500 / W)


def test_rollup_is_idempotent_and_counts_late_records(owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    now = timezone.now()
    start = _window_start(now)
    ExecutionRecordFactory(component=component, started_at=start + dt.timedelta(seconds=1))
    services.health_rollup(now=now)
    ExecutionRecordFactory(component=component, started_at=start + dt.timedelta(seconds=2))  # arrives late
    services.health_rollup(now=now + dt.timedelta(seconds=1))
    event = SystemHealthEvent.objects.get(component=component, source="rollup")
    assert event.request_count == 2


@pytest.mark.parametrize(
    ("error_share", "expected"),
    [(0.0, "healthy"), (0.02, "degraded"), (0.10, "unhealthy"), (0.25, "critical")],
)
def test_status_changes_at_each_threshold(owner: Any, error_share: float, expected: str) -> None:
    component = ComponentFactory(owner=owner)
    now = timezone.now()
    start = _window_start(now)
    errors = round(error_share * 100)
    ExecutionRecord.objects.bulk_create(
        ExecutionRecord(owner=owner, component=component, started_at=start + dt.timedelta(seconds=1),
                        duration_ms=10, ok=i >= errors)
        for i in range(100)
    )  # fmt: skip
    services.health_rollup(now=now)
    event = SystemHealthEvent.objects.get(component=component, source="rollup")
    assert event.status == expected
    component.refresh_from_db()
    assert component.status == expected  # from unknown, the first window decides


def test_flap_damping_needs_n_of_m_bad_windows(owner: Any) -> None:
    component = ComponentFactory(owner=owner, status="healthy")
    base = timezone.now() - dt.timedelta(minutes=5)
    for i, status in enumerate(["healthy", "healthy", "critical"]):
        HealthEventFactory(component=component, status=status, window_start=base + dt.timedelta(seconds=10 * i))
    services.component_status_refresh(component_ids=[component.pk], now=timezone.now())
    component.refresh_from_db()
    assert component.status == "healthy"  # one bad window of three
    HealthEventFactory(component=component, status="critical", window_start=base + dt.timedelta(seconds=30))
    services.component_status_refresh(component_ids=[component.pk], now=timezone.now())
    component.refresh_from_db()
    assert component.status == "critical"
    change = AuditLogEntry.objects.get(action="component.status_change", object_id=str(component.pk))
    assert change.before == {"status": "healthy"} and change.after == {"status": "critical"}
    assert change.actor_kind == "system" and change.actor_label == "monitor"


def test_a_silent_component_becomes_stale_not_healthy(owner: Any) -> None:
    now = timezone.now()
    quiet = ComponentFactory(
        owner=owner, status="healthy", stale_after_s=60, last_report_at=now - dt.timedelta(seconds=61)
    )
    chatty = ComponentFactory(
        owner=owner, status="healthy", stale_after_s=60, last_report_at=now - dt.timedelta(seconds=5)
    )
    services.components_mark_stale(now=now)
    quiet.refresh_from_db()
    chatty.refresh_from_db()
    assert quiet.status == "stale"
    assert chatty.status == "healthy"


def test_retention_removes_old_rows_in_batches_and_reports(owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    old = timezone.now() - dt.timedelta(days=31)
    for i in range(7):
        HealthEventFactory(component=component, window_start=old + dt.timedelta(minutes=i))
        ExecutionRecordFactory(component=component, started_at=old + dt.timedelta(minutes=i))
    keep = HealthEventFactory(component=component)
    removed = services.health_retention_purge(days=30, batch=3)
    assert removed["system_health_events"] == 7 and removed["execution_log"] == 7
    assert list(SystemHealthEvent.objects.all()) == [keep]
    entry = AuditLogEntry.objects.get(action="health.retention_purge")
    assert entry.after["system_health_events"] == 7


def test_settings_changes_are_validated_and_audited(owner: Any) -> None:
    from core314.services import DomainError

    component = ComponentFactory(owner=owner)
    with pytest.raises(DomainError, match="ascending"):
        services.component_update_settings(
            actor=owner, component=component, thresholds_override={"latency_p95_ms": [3, 2, 1]}
        )
    with pytest.raises(DomainError, match="N ≤ M"):
        services.component_update_settings(actor=owner, component=component, flap_bad_n=5, flap_window_m=3)
    services.component_update_settings(
        actor=owner,
        component=component,
        thresholds_override={"latency_p95_ms": [100, 200, 300]},
        flap_recover_k=4,
    )
    component.refresh_from_db()
    assert component.thresholds == {"latency_p95_ms": [100, 200, 300]} and component.flap_recover_k == 4
    assert AuditLogEntry.objects.filter(action="component.update_settings").count() == 1
