from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from django.utils import timezone

from anomalies import services
from anomalies.models import AnomalySignal, DetectorState
from core314.models import AuditLogEntry
from health.models import SystemHealthEvent
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db

STEP = dt.timedelta(seconds=10)


def push(component: Any, values: list[float], start: dt.datetime, metric: str = "latency_p95_ms", **extra: Any):
    """Health events with one metric following ``values``, one per 10 s window."""
    SystemHealthEvent.objects.bulk_create(
        SystemHealthEvent(
            owner=component.owner, component=component, window_start=start + i * STEP,
            window_end=start + (i + 1) * STEP, source="push", status="healthy", **{metric: v}, **extra,
        )
        for i, v in enumerate(values)
    )  # fmt: skip
    return start + len(values) * STEP


def normal(n: int, level: float = 120.0, sd: float = 6.0, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [max(0.0, rng.gauss(level, sd)) for _ in range(n)]


@pytest.fixture
def start() -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=2)


def test_an_anomalous_event_opens_a_signal_with_its_explanation(owner: Any, start: dt.datetime) -> None:
    component = ComponentFactory(owner=owner, name="checkout")
    after = push(component, normal(60), start)
    push(component, [2400.0], after)
    opened = services.signals_detect(component_id=component.pk, now=after + STEP)
    assert len(opened) == 1
    signal = AnomalySignal.objects.get()
    assert (signal.kind, signal.metric, signal.status) == ("latency_spike", "latency_p95_ms", "open")
    assert signal.observed_value == 2400.0 and 100 < signal.expected_value < 140
    assert signal.band_low < signal.expected_value < signal.band_high < 2400
    assert signal.severity == "critical" and 0.5 < signal.confidence <= 0.99
    assert "p95 latency 2,400.0 ms vs expected" in signal.explanation
    assert signal.recommended_actions[0]["action"] == "restart_function"
    entry = AuditLogEntry.objects.get(action="anomaly.open")
    assert entry.actor_label == "detector" and entry.owner == owner


def test_normal_traffic_opens_nothing(owner: Any, start: dt.datetime) -> None:
    component = ComponentFactory(owner=owner)
    after = push(component, normal(300), start)
    assert services.signals_detect(component_id=component.pk, now=after) == []
    assert not AnomalySignal.objects.exists()


def test_repeats_update_the_open_signal_instead_of_adding_rows(owner: Any, start: dt.datetime) -> None:
    component = ComponentFactory(owner=owner)
    after = push(component, normal(60), start)
    for i in range(5):  # five detection runs, each seeing one more bad window
        after = push(component, [2000.0 + 100 * i], after)
        services.signals_detect(component_id=component.pk, now=after)
    signal = AnomalySignal.objects.get()
    assert signal.occurrences == 5
    assert signal.peak_value == 2400.0


def test_a_burst_of_bad_windows_in_one_batch_is_one_signal(owner: Any, start: dt.datetime) -> None:
    component = ComponentFactory(owner=owner)
    after = push(component, normal(60), start)
    after = push(component, [3000.0] * 50, after)
    services.signals_detect(component_id=component.pk, now=after)
    services.signals_detect(component_id=component.pk, now=after)  # a second run changes nothing
    assert AnomalySignal.objects.count() == 1


def test_it_resolves_itself_after_being_normal_for_the_configured_time(
    owner: Any, start: dt.datetime, settings: Any
) -> None:
    settings.CORE314_SIGNAL_RESOLVE_AFTER = 60
    component = ComponentFactory(owner=owner)
    after = push(component, normal(60), start)
    after = push(component, [2500.0, 2600.0], after)
    services.signals_detect(component_id=component.pk, now=after)
    after = push(component, normal(4, seed=9), after)  # back in band: 3 windows close the incident
    services.signals_detect(component_id=component.pk, now=after)
    signal = AnomalySignal.objects.get()
    assert signal.status == "open" and signal.normal_since is not None
    services.signals_detect(component_id=component.pk, now=signal.normal_since + dt.timedelta(seconds=61))
    signal.refresh_from_db()
    assert signal.status == "resolved" and signal.resolved_by is None
    assert "normal band" in signal.resolution_note


def test_error_rate_after_a_release_recommends_rollback(owner: Any, start: dt.datetime) -> None:
    component = ComponentFactory(owner=owner)
    after = push(component, [0.01] * 40, start, metric="error_rate", version="v1")
    later = push(component, [0.4], after, metric="error_rate", version="v2")
    services.signals_detect(component_id=component.pk, now=after + STEP)
    # One bad window of a rate is count noise (1 failure in 20 requests is 5 %): no signal yet.
    assert not AnomalySignal.objects.filter(kind="error_rate_increase").exists()
    push(component, [0.4], later, metric="error_rate", version="v2")
    services.signals_detect(component_id=component.pk, now=later + STEP)
    signal = AnomalySignal.objects.get(kind="error_rate_increase")
    assert signal.recommended_actions[0]["action"] == "rollback_deployment"


def test_a_resource_near_its_limit_or_heading_there_is_flagged(owner: Any, start: dt.datetime) -> None:
    component = ComponentFactory(owner=owner)
    leak = [40 + 0.8 * i for i in range(50)]  # memory climbing steadily: reaches 100 % in about 75 windows
    after = push(component, leak, start, metric="memory_percent")
    services.signals_detect(component_id=component.pk, now=after)
    signal = AnomalySignal.objects.get(kind="resource_exhaustion", metric="memory_percent")
    assert "reaches 100%" in signal.explanation
    assert signal.recommended_actions[0]["action"] == "restart_function"


def test_a_symptom_is_linked_to_its_cause(owner: Any, start: dt.datetime) -> None:
    database = ComponentFactory(owner=owner, name="db", type="database")
    api = ComponentFactory(owner=owner, name="api")
    api.depends_on.add(database)
    for component in (database, api):
        after = push(component, normal(60), start)
        push(component, [3000.0], after)
    services.signals_detect(component_id=database.pk, now=after + STEP)
    services.signals_detect(component_id=api.pk, now=after + STEP)
    cause = AnomalySignal.objects.get(component=database)
    symptom = AnomalySignal.objects.get(component=api)
    assert symptom.cause == cause and cause.cause is None


def test_a_silence_records_but_marks_the_signal(owner: Any, start: dt.datetime) -> None:
    component = ComponentFactory(owner=owner)
    now = timezone.now()
    services.silence_create(
        actor=owner, component=component, kind="", starts_at=now - dt.timedelta(hours=3),
        ends_at=now + dt.timedelta(hours=1), reason="database upgrade",
    )  # fmt: skip
    after = push(component, normal(60), start)
    push(component, [3000.0], after)
    services.signals_detect(component_id=component.pk, now=now)
    assert AnomalySignal.objects.get().silenced is True


def test_detector_state_survives_between_runs(owner: Any, start: dt.datetime) -> None:
    component = ComponentFactory(owner=owner)
    after = push(component, normal(60), start)
    services.signals_detect(component_id=component.pk, now=after)
    state = DetectorState.objects.get(component=component, metric="latency_p95_ms")
    assert len(state.state["detector"]["window"]) == 60  # it learned every normal window
    assert state.last_window_start == after - STEP
    push(component, [2500.0], after)  # only the new event is read, judged against what was learned
    assert len(services.signals_detect(component_id=component.pk, now=after + STEP)) == 1


def test_acknowledge_and_resolve_follow_the_lifecycle(owner: Any, start: dt.datetime) -> None:
    from core314.services import ConflictError, DomainError

    component = ComponentFactory(owner=owner)
    after = push(component, normal(60), start)
    push(component, [3000.0], after)
    signal = services.signals_detect(component_id=component.pk, now=after + STEP)[0]
    services.signal_acknowledge(actor=owner, signal=signal, note="looking")
    with pytest.raises(ConflictError):
        services.signal_acknowledge(actor=owner, signal=signal)
    with pytest.raises(DomainError, match="note is required"):
        services.signal_resolve(actor=owner, signal=signal, note=" ")
    services.signal_resolve(actor=owner, signal=signal, note="restarted the pool")
    signal.refresh_from_db()
    assert signal.status == "resolved" and signal.resolved_by == owner and signal.acknowledged_by == owner
    entries = AuditLogEntry.objects.filter(object_type="anomalies.anomalysignal", object_id=str(signal.pk))
    actions = list(entries.order_by("id").values_list("action", flat=True))
    assert actions == ["anomaly.open", "anomaly.acknowledge", "anomaly.resolve"]


@pytest.mark.django_db(transaction=True)
def test_new_events_trigger_detection_without_any_api_call(owner: Any, service_account: Any) -> None:
    """Ingest commits → the committed signal fires → the detect task runs (eagerly here) → a signal opens."""
    from core314.celery import app
    from health.services import health_events_ingest

    component = ComponentFactory(owner=owner)
    start = timezone.now() - dt.timedelta(hours=1)
    push(component, normal(60), start)
    app.conf.task_always_eager = True
    try:
        item = {"component": component.pk, "window_start": (start + 61 * STEP).isoformat(), "latency_p95_ms": 4000}
        health_events_ingest(actor=service_account.user, items=[item])
    finally:
        app.conf.task_always_eager = False
    assert AnomalySignal.objects.filter(component=component, status="open").count() == 1


def test_a_tiny_absolute_change_on_a_fast_component_is_not_an_incident(owner: Any, start: dt.datetime) -> None:
    """0.5 ms → 15 ms is many standard deviations but operationally nothing; 0.5 ms → 500 ms is real."""
    component = ComponentFactory(owner=owner, type="cache")
    after = push(component, normal(60, level=0.5, sd=0.05), start)
    after = push(component, [15.0], after)
    assert services.signals_detect(component_id=component.pk, now=after) == []
    push(component, [500.0], after)
    assert len(services.signals_detect(component_id=component.pk, now=after + STEP)) == 1


def test_a_first_run_learns_from_recent_history_and_judges_the_newest_event(owner: Any, start: dt.datetime) -> None:
    """A component with a long history: the first detection must reach today's anomaly in one run."""
    component = ComponentFactory(owner=owner)
    after = push(component, normal(6000, seed=5), start - dt.timedelta(hours=20))
    push(component, [4000.0], after)
    assert len(services.signals_detect(component_id=component.pk, now=after + STEP)) == 1


def test_a_resource_far_from_its_limit_is_not_exhaustion(owner: Any, start: dt.datetime) -> None:
    component = ComponentFactory(owner=owner)
    after = push(component, normal(60, level=5.0, sd=0.5), start, metric="cpu_percent")
    push(component, [21.0, 22.0, 21.5], after, metric="cpu_percent")  # unusual, and nowhere near 100 %
    services.signals_detect(component_id=component.pk, now=after + 3 * STEP)
    assert not AnomalySignal.objects.filter(metric="cpu_percent").exists()
