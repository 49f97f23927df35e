"""Signals you can trust: one incident per fault, episodes, a bad level never learned as normal, status and
silence open signals, the platform's own actions expected, operators' verdicts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from anomalies import selectors, services
from anomalies.models import AnomalySignal, DetectorState, Incident
from core314.services import DomainError
from health.models import Component, SystemHealthEvent
from recovery import services as healing
from recovery.models import Actuator, HealingDecision, RecoveryAction, RecoveryPolicy
from tests.anomalies.test_services import STEP, normal, push
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db
SECRET = "s" * 20


@pytest.fixture
def start() -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=2)


def _watched(owner: Any, name: str = "checkout", **policy: Any) -> Component:
    """A component with a webhook actuator and one restart policy for the kinds asked (default: any)."""
    RecoveryPolicy.objects.filter(owner=owner).delete()
    component = ComponentFactory(owner=owner, name=name)
    Actuator.objects.create(
        owner=owner, component=component, kind="webhook",
        config={"url": "https://hooks.example/heal", "secret": SECRET, "timeout_s": 3},
    )  # fmt: skip
    RecoveryPolicy.objects.create(
        owner=owner, name="restart", kinds=policy.pop("kinds", []), min_severity="low",
        action_type="restart_function", mode="automatic", chain=[{"action_type": "alert_escalation"}],
        verify_after_s=30, cooldown_s=1, **policy,
    )  # fmt: skip
    return component


def _events(component: Component, start: dt.datetime, rows: list[dict[str, float]]) -> dt.datetime:
    SystemHealthEvent.objects.bulk_create(
        SystemHealthEvent(
            owner=component.owner, component=component, window_start=start + i * STEP,
            window_end=start + (i + 1) * STEP, source="push", status="healthy", **row,
        )
        for i, row in enumerate(rows)
    )  # fmt: skip
    return start + len(rows) * STEP


def _decide_all() -> None:
    for signal in AnomalySignal.objects.exclude(status="resolved"):
        healing.heal_signal(signal_id=signal.pk)


def test_one_fault_is_one_incident_one_decision_one_action(owner: Any, start: dt.datetime) -> None:
    """A hang: the service stops answering and its latency spikes. Two signals, one incident, one restart."""
    component = _watched(owner)
    quiet = [{"latency_p95_ms": v, "availability": 1.0} for v in normal(60, 30, 2)]
    after = _events(component, start, quiet)
    _events(component, after, [{"latency_p95_ms": 4000.0, "availability": 0.0}])
    services.signals_detect(component_id=component.pk, now=after + STEP)
    signals = AnomalySignal.objects.all()
    assert {s.kind for s in signals} == {"latency_spike", "availability_drop"}
    assert Incident.objects.count() == 1 and {s.incident_id for s in signals} == {Incident.objects.get().pk}
    _decide_all()
    assert HealingDecision.objects.count() == 1
    assert RecoveryAction.objects.exclude(action_type="alert_escalation").count() == 1


def test_a_dependents_signal_joins_its_dependencys_incident(owner: Any, start: dt.datetime) -> None:
    database = _watched(owner, name="db")
    api = ComponentFactory(owner=owner, name="api")
    api.depends_on.add(database)
    for component in (database, api):
        after = push(component, normal(60, 30, 3), start)
        push(component, [3000.0], after)
        services.signals_detect(component_id=component.pk, now=after + STEP)
    incident = Incident.objects.get()
    assert incident.component == database and incident.signals.count() == 2
    symptom = AnomalySignal.objects.get(component=api)
    assert symptom.cause is not None and symptom.cause.component == database


def test_a_fault_back_after_being_quiet_is_a_new_episode_decided_again(owner: Any, start: dt.datetime) -> None:
    """The new-user walkthrough: a signal whose decision was 'back to normal' deviates again (a new fault):
    healing decides again instead of raising an occurrence count for three minutes."""
    component = _watched(owner)
    after = push(component, normal(60, 30, 4), start)
    after = push(component, [3000.0], after)
    services.signals_detect(component_id=component.pk, now=after)
    signal = AnomalySignal.objects.get()
    AnomalySignal.objects.filter(pk=signal.pk).update(normal_since=timezone.now())  # back in band
    first = healing.heal_signal(signal_id=signal.pk)
    assert first is not None and first.outcome == "skipped" and "back to normal" in first.reason
    after = push(component, [3100.0], after)  # deviating again
    services.signals_detect(component_id=component.pk, now=after)
    incident = Incident.objects.get()
    assert incident.episode == 2
    second = healing.heal_signal(signal_id=signal.pk)
    assert second is not None and second.episode == 2 and second.outcome == "acted"
    assert second.action is not None and second.action.episode == 2
    assert "incident.episode" in {e.action for e in selectors.incident_timeline(actor=owner, incident=incident)}


def test_a_level_past_the_degraded_bound_keeps_its_signal_open(owner: Any, start: dt.datetime) -> None:
    """800 ms answers on an API whose degraded threshold is 500 ms: open for as long as it lasts, never learned
    as the new normal and resolved by itself (it was, after three minutes, before)."""
    component = _watched(owner)
    after = push(component, normal(60, 30, 5), start)
    slow = [800.0 + (i % 7) for i in range(200)]  # > six relearn periods, three baseline windows
    after = push(component, slow, after)
    services.signals_detect(component_id=component.pk, now=after)
    later = after + dt.timedelta(minutes=10)
    services.signals_auto_resolve(component_ids=[component.pk], now=later)
    signal = AnomalySignal.objects.get(kind="latency_spike")
    assert signal.status == "open" and signal.normal_since is None


def test_a_breach_of_the_operators_thresholds_opens_a_signal_the_detector_would_not(
    owner: Any, start: dt.datetime
) -> None:
    component = _watched(owner)
    push(component, [0.4 for _ in range(40)], start, metric="error_rate")  # always this bad: its "normal"
    Component.objects.filter(pk=component.pk).update(status="critical")
    services.signals_detect(component_id=component.pk, now=timezone.now())
    breach = AnomalySignal.objects.get(kind="threshold_breach")
    assert breach.severity == "critical" and "error_rate=0.4" in breach.explanation
    _decide_all()
    assert RecoveryAction.objects.filter(signal=breach, action_type="restart_function").exists()
    Component.objects.filter(pk=component.pk).update(status="healthy")
    services.signals_detect(component_id=component.pk, now=timezone.now())
    breach.refresh_from_db()
    assert breach.normal_since is not None  # back within its thresholds: it resolves after resolve-after


def test_a_component_that_stops_reporting_opens_a_no_data_signal(owner: Any) -> None:
    component = _watched(owner)
    Component.objects.filter(pk=component.pk).update(
        status="stale", last_report_at=timezone.now() - dt.timedelta(minutes=5)
    )
    services.detection_sweep(now=timezone.now())
    signal = AnomalySignal.objects.get(kind="no_data")
    assert "sent no data for 300 s" in signal.explanation and signal.incident is not None


def test_the_platforms_own_restart_is_expected_not_paged(owner: Any, start: dt.datetime) -> None:
    """After a restart, the service's catch-up traffic surges: recorded on the restart, nobody paged."""
    component = _watched(owner)
    after = push(component, normal(60, 100, 3), start, metric="throughput_rps")
    restart = RecoveryAction.objects.create(
        owner=owner, component=component, action_type="restart_function", mode="automatic", status="succeeded",
        in_flight=True, finished_at=timezone.now(), verify_at=timezone.now() + dt.timedelta(seconds=30),
    )  # fmt: skip
    push(component, [900.0], after, metric="throughput_rps")
    assert services.signals_detect(component_id=component.pk, now=after + STEP) == []
    assert not AnomalySignal.objects.exists()
    restart.refresh_from_db()
    assert restart.aftermath[0]["kind"] == "throughput_surge" and restart.aftermath[0]["count"] == 1


def test_operators_mark_pages_real_or_false_and_the_report_card_counts_them(
    owner: Any, api_for: Any, start: dt.datetime
) -> None:
    component = _watched(owner)
    after = push(component, normal(60, 30, 6), start)
    push(component, [3000.0], after)
    services.signals_detect(component_id=component.pk, now=after + STEP)
    incident = Incident.objects.get()
    api = api_for(owner)
    assert (
        api.post(f"/api/v1/incidents/{incident.pk}/feedback/", {"verdict": "maybe"}, format="json").status_code == 400
    )
    response = api.post(f"/api/v1/incidents/{incident.pk}/feedback/", {"verdict": "false_alarm"}, format="json")
    assert response.status_code == 200 and response.json()["feedback"] == "false_alarm"
    assert AnomalySignal.objects.get().feedback == "false_alarm"
    report = api.get("/api/v1/incidents/pages-per-component/").json()
    assert report == [
        {"component_id": component.pk, "component": "checkout", "pages": 1, "per_week": 0.25, "real": 0,
         "false_alarms": 1, "share_real": 0.0}
    ]  # fmt: skip


def test_a_level_is_accepted_as_normal_only_within_the_unhealthy_threshold(owner: Any, start: dt.datetime) -> None:
    component = _watched(owner)
    after = push(component, normal(60, 30, 7), start)
    push(component, [2000.0], after)
    services.signals_detect(component_id=component.pk, now=after + STEP)
    signal = AnomalySignal.objects.get()
    with pytest.raises(DomainError, match="past checkout's unhealthy threshold"):
        services.signal_accept_normal(actor=owner, signal=signal)
    AnomalySignal.objects.filter(pk=signal.pk).update(observed_value=700.0)
    services.signal_accept_normal(actor=owner, signal=signal, note="the new release is slower")
    signal.refresh_from_db()
    assert signal.status == "resolved" and "accepted as the new normal" in signal.resolution_note
    assert not DetectorState.objects.filter(component=component, metric="latency_p95_ms").exists()


def test_resuming_healing_decides_again_what_the_pause_only_planned(owner: Any, start: dt.datetime) -> None:
    component = _watched(owner)
    healing.healing_pause_set(actor=owner, paused=True, reason="deploy window")
    after = push(component, normal(60, 30, 8), start)
    push(component, [3000.0], after)
    services.signals_detect(component_id=component.pk, now=after + STEP)
    _decide_all()
    planned = RecoveryAction.objects.exclude(action_type="alert_escalation").get()
    assert planned.mode == "dry_run"
    healing.healing_pause_set(actor=owner, paused=False)
    assert Incident.objects.get().episode == 2
    _decide_all()
    real = RecoveryAction.objects.exclude(action_type="alert_escalation").exclude(pk=planned.pk).get()
    assert real.mode == "automatic" and real.status == "approved"


def test_the_detection_settings_offer_a_threshold_backtested_on_the_components_own_history(
    owner: Any, client_for: Any, api_for: Any, start: dt.datetime
) -> None:
    """A spike of z ≈ 6.5 that people marked real, and smaller bumps marked false alarms: the suggestion is the
    highest threshold that still pages the real one, with the pages each threshold would have sent."""
    component = ComponentFactory(owner=owner, name="checkout")
    values = normal(300, 1000, 50, seed=9)
    for at, bump in ((100, 1200.0), (160, 1210.0)):  # bumps of about 4 spreads: pages at a low threshold only
        values[at] = bump
    values[240] = 1380.0  # a real incident (about 7.5 spreads)
    push(component, values, start)
    for index, verdict in ((100, "false_alarm"), (160, "false_alarm"), (240, "real")):
        Incident.objects.create(
            owner=owner, component=component, title=f"at {index}", opened_at=start + index * STEP, feedback=verdict
        )
    response = api_for(owner).get(f"/api/v1/detection-settings/backtest/?component={component.pk}")
    assert response.status_code == 200
    rows = {row["threshold"]: row for row in response.json()}
    assert rows[4.0]["false_paged"] == 1 and rows[4.0]["real_paged"] == 0  # too low: a false alarm, the real missed
    assert rows[8.0]["pages"] == 0  # too high: silent
    suggested = [row for row in rows.values() if row["suggested"]]
    assert [(s["threshold"], s["real_paged"], s["false_paged"]) for s in suggested] == [(7.0, 1, 0)]
    assert rows[5.0]["current"] and rows[5.0]["real_paged"] == 1
    page = client_for(owner).get(f"/anomaly-console/components/{component.pk}/detection").content.decode()
    assert 'id="threshold-backtest"' in page and "suggested" in page


def test_a_signal_opened_in_a_silence_is_healed_after_the_silence_ends(owner: Any, start: dt.datetime) -> None:
    component = _watched(owner)
    silence = services.silence_create(
        actor=owner, component=component, kind="", starts_at=start - dt.timedelta(minutes=1),
        ends_at=timezone.now() + dt.timedelta(hours=1), reason="database upgrade",
    )  # fmt: skip
    after = push(component, normal(60, 30, 11), start)
    push(component, [3000.0], after)
    services.signals_detect(component_id=component.pk, now=after + STEP)
    signal = AnomalySignal.objects.get()
    assert signal.silenced
    decision = healing.heal_signal(signal_id=signal.pk)
    assert decision is not None and decision.outcome == "skipped" and not RecoveryAction.objects.exists()
    services.silence_end(actor=owner, silence=silence)  # maintenance over; the fault is still there
    signal.refresh_from_db()
    assert not signal.silenced and Incident.objects.get().episode == 2
    decided = healing.heal_signal(signal_id=signal.pk)
    assert decided is not None and decided.outcome == "acted"
    assert RecoveryAction.objects.filter(action_type="restart_function").exists()


def test_a_weekly_window_silences_on_schedule_by_tag(owner: Any) -> None:
    from zoneinfo import ZoneInfo

    batch = ComponentFactory(owner=owner, name="nightly-etl", tags=["batch"])
    other = ComponentFactory(owner=owner, name="checkout")
    paris = ZoneInfo("Europe/Paris")
    series_start = dt.datetime(2026, 11, 1, tzinfo=paris)
    services.silence_create(
        actor=owner, component=None, kind="", match_tag="batch", starts_at=series_start,
        ends_at=series_start + dt.timedelta(days=180), reason="weekly maintenance",
        cron="0 2 * * SUN", duration_s=7200, time_zone="Europe/Paris",
    )  # fmt: skip
    sunday_3am = dt.datetime(2026, 12, 6, 3, 0, tzinfo=paris)
    sunday_5am = dt.datetime(2026, 12, 6, 5, 0, tzinfo=paris)
    monday_3am = dt.datetime(2026, 12, 7, 3, 0, tzinfo=paris)
    assert services.silence_find_active(component=batch, kind="latency_spike", at=sunday_3am) is not None
    assert services.silence_find_active(component=batch, kind="latency_spike", at=sunday_5am) is None
    assert services.silence_find_active(component=batch, kind="latency_spike", at=monday_3am) is None
    assert services.silence_find_active(component=other, kind="latency_spike", at=sunday_3am) is None


def test_a_recurring_silence_refuses_a_bad_cron_or_zone(owner: Any) -> None:
    now = timezone.now()
    base = {"actor": owner, "component": None, "kind": "", "match_tag": "x", "starts_at": now,
            "ends_at": now + dt.timedelta(days=7), "reason": "r", "duration_s": 600}  # fmt: skip
    with pytest.raises(DomainError, match="not a valid cron"):
        services.silence_create(**base, cron="every sunday")
    with pytest.raises(DomainError, match="not a known time zone"):
        services.silence_create(**base, cron="0 2 * * SUN", time_zone="Mars/Olympus")
    with pytest.raises(DomainError, match="names what it covers"):
        services.silence_create(**{**base, "match_tag": ""}, cron="0 2 * * SUN")
