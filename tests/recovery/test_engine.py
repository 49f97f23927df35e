"""The healing engine on the real database: decide, execute once, verify, continue the chain, escalate;
and the safety rules (one in flight, pause, approvals that expire, blast radius)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from anomalies.models import AnomalySignal, Incident
from core314.services import ConflictError
from health.models import Component
from recovery import services
from recovery.executors.base import Result
from recovery.models import Actuator, CircuitBreaker, HealingDecision, RecoveryAction, RecoveryPolicy
from recovery.services.execute import _finish, _me
from tests import factories
from tests.endpoints import SECRET, Endpoint


def _setup(owner: Any, url: str, **policy: Any) -> Component:
    RecoveryPolicy.objects.filter(owner=owner).delete()  # start from a known set, not the defaults
    component = factories.ComponentFactory(owner=owner, name="payments")
    Actuator.objects.create(
        owner=owner, component=component, kind="webhook", config={"url": url, "secret": SECRET, "timeout_s": 3}
    )
    fields = {
        "name": "errors",
        "kinds": ["error_rate_increase"],
        "min_severity": "medium",
        "action_type": "restart_function",
        "mode": "automatic",
        "chain": [{"action_type": "circuit_breaker", "parameters": {"cooldown_s": 30}}],
        "verify_after_s": 30,
        "cooldown_s": 60,
        **policy,
    }
    RecoveryPolicy.objects.create(owner=owner, **fields)
    return component


def _signal(component: Component, **fields: Any) -> AnomalySignal:
    values = {
        "kind": "error_rate_increase",
        "metric": "error_rate",
        "severity": "high",
        "observed_value": 0.4,
        "expected_value": 0.01,
        "band_low": 0.0,
        "band_high": 0.03,
        "first_seen_at": timezone.now() - timedelta(seconds=60),
        **fields,
    }
    return factories.AnomalySignalFactory(component=component, **values)


def _events(component: Component, error_rate: float, after: Any, count: int = 3) -> None:
    for i in range(count):
        start = after + timedelta(seconds=1 + 10 * i)
        factories.HealthEventFactory(
            component=component, window_start=start, window_end=start + timedelta(seconds=10), error_rate=error_rate
        )


def test_a_signal_is_healed_once_verified_and_resolved(owner: Any, endpoint: str) -> None:
    component = _setup(owner, endpoint)
    signal = _signal(component)

    decision = services.heal_signal(signal_id=signal.pk)
    assert decision.outcome == "acted"
    action = decision.action
    assert (action.status, action.in_flight, action.mode) == ("approved", True, "automatic")
    assert action.plan["steps"][0].startswith("POST a signed restart_function request")
    assert action.before_metrics["signal_value"] == 0.4

    action = services.action_execute(action_id=action.pk)
    assert action.status == "succeeded" and action.in_flight  # still in flight until verified
    assert [r["valid"] for r in Endpoint.received] == [True]
    assert Endpoint.received[0]["body"]["action"] == "restart_function"
    assert services.action_execute(action_id=action.pk).status == "succeeded"  # a second delivery does nothing
    assert len(Endpoint.received) == 1

    _events(component, 0.01, action.finished_at)
    action = services.action_verify(action_id=action.pk, now=action.verify_at + timedelta(seconds=1))
    assert (action.verdict, action.effectiveness, action.in_flight) == ("resolved", 1.0, False)
    assert 60 <= action.time_to_recover_s < 120
    signal.refresh_from_db()
    assert signal.status == "resolved" and f"#{action.pk}" in signal.resolution_note


def test_an_action_that_does_not_help_continues_the_chain_then_escalates(owner: Any, endpoint: str) -> None:
    component = _setup(owner, endpoint)
    signal = _signal(component)
    first = services.action_execute(action_id=services.heal_signal(signal_id=signal.pk).action.pk)
    _events(component, 0.45, first.finished_at)
    first = services.action_verify(action_id=first.pk, now=first.verify_at + timedelta(seconds=1))
    assert first.verdict == "worse" or first.verdict == "no_effect"

    second = RecoveryAction.objects.get(signal=signal, step=1)
    assert second.action_type == "circuit_breaker" and second.status == "approved"
    second = services.action_execute(action_id=second.pk)
    assert CircuitBreaker.objects.get(component=component).state == "open"

    _events(component, 0.45, second.finished_at + timedelta(seconds=30))
    services.action_verify(action_id=second.pk, now=second.verify_at + timedelta(seconds=60))
    escalation = RecoveryAction.objects.get(signal=signal, action_type="alert_escalation")
    assert "nothing left to try" in escalation.reason and escalation.in_flight is False
    backoff = component.backoffs.get(action_type="restart_function")
    assert backoff.attempts == 1  # the restart did not help: its next wait doubles


def test_an_action_that_only_helps_a_little_gets_a_second_look_then_the_chain_moves_on(
    owner: Any, endpoint: str
) -> None:
    component = _setup(owner, endpoint)
    signal = _signal(component)
    first = services.action_execute(action_id=services.heal_signal(signal_id=signal.pk).action.pk)
    _events(component, 0.2, first.finished_at)  # half-way back: better, not healed
    due = first.verify_at + timedelta(seconds=1)
    first = services.action_verify(action_id=first.pk, now=due)
    assert (first.verdict, first.checks, first.in_flight, first.verified_at) == ("improved", 1, True, None)
    assert first.verify_at > due  # looked at again one window later, the component still held
    assert not RecoveryAction.objects.filter(signal=signal, step=1).exists()

    _events(component, 0.2, first.verify_at - timedelta(seconds=29))
    first = services.action_verify(action_id=first.pk, now=first.verify_at + timedelta(seconds=1))
    assert (first.verdict, first.checks, first.in_flight) == ("improved", 2, False)
    second = RecoveryAction.objects.get(signal=signal, step=1)
    assert second.action_type == "circuit_breaker" and second.status == "approved"
    assert not component.backoffs.filter(action_type="restart_function", attempts__gt=0).exists()


def test_an_improvement_that_ends_the_incident_needs_no_more(owner: Any, endpoint: str) -> None:
    component = _setup(owner, endpoint)
    signal = _signal(component)
    first = services.action_execute(action_id=services.heal_signal(signal_id=signal.pk).action.pk)
    _events(component, 0.2, first.finished_at)
    AnomalySignal.objects.filter(pk=signal.pk).update(status="resolved")  # it recovered on its own meanwhile
    first = services.action_verify(action_id=first.pk, now=first.verify_at + timedelta(seconds=1))
    assert (first.verdict, first.in_flight) == ("improved", False)
    assert not RecoveryAction.objects.filter(signal=signal, step=1).exists()


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_fifty_signals_yields_one_incident_one_decision_and_one_action(owner: Any, endpoint: str) -> None:
    component = _setup(owner, endpoint)
    signals = [_signal(component, metric=f"error_rate:{n}") for n in range(50)]

    def decide(signal_id: int) -> str:
        try:
            return services.heal_signal(signal_id=signal_id).outcome
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(decide, [s.pk for s in signals] + [signals[0].pk] * 20))
    assert RecoveryAction.objects.exclude(action_type="alert_escalation").count() == 1
    assert set(outcomes) == {"acted"}  # one fault: every trigger reads back its one decision
    assert HealingDecision.objects.count() == 1
    assert Incident.objects.count() == 1 and Incident.objects.get().signals.count() == 50


@pytest.mark.django_db(transaction=True)
def test_fifty_incidents_on_one_component_still_get_one_action_in_flight(
    owner: Any, endpoint: str, settings: Any
) -> None:
    settings.CORE314_INCIDENT_WINDOW = 0  # every signal its own incident: the in-flight guard must hold alone
    component = _setup(owner, endpoint)
    # Fifty alerts about the same failure (the unique index allows one open signal per metric; a burst
    # comes from many senders or series).
    signals = [_signal(component, metric=f"error_rate:{n}") for n in range(50)]

    def decide(signal_id: int) -> str:
        try:
            return services.heal_signal(signal_id=signal_id).outcome
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(decide, [s.pk for s in signals] + [signals[0].pk] * 20))
    assert RecoveryAction.objects.exclude(action_type="alert_escalation").count() == 1
    assert set(outcomes) == {"acted", "deferred"}  # repeated triggers read back their incident's decision
    incidents = Incident.objects.count()
    assert incidents > 10  # (signals attached at the same instant may still share one)
    assert HealingDecision.objects.filter(outcome="acted").count() == 1
    assert HealingDecision.objects.filter(outcome="deferred").count() == incidents - 1


@pytest.mark.django_db(transaction=True)
def test_recording_a_result_and_the_supervisor_job_take_locks_in_the_same_order(owner: Any, endpoint: str) -> None:
    # Found by the chaos bench: an action finishing (its new process state to store) while the supervisor
    # job looked at the same actuator deadlocked, and the restart ended "outcome unknown" a minute later.
    component = _setup(owner, endpoint)
    actuator = Actuator.objects.get(component=component)
    action = services.heal_signal(signal_id=_signal(component).pk).action
    RecoveryAction.objects.filter(pk=action.pk).update(status="running", claimed_by=_me())
    supervisor_holds_actuator = threading.Event()

    def supervisor_job() -> None:  # the order supervise_processes() locks in: actuator, then component
        try:
            with transaction.atomic():
                Actuator.objects.select_for_update().get(pk=actuator.pk)
                supervisor_holds_actuator.set()
                time.sleep(0.5)  # meanwhile the result arrives
                Component.objects.select_for_update().get(pk=component.pk)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(supervisor_job)
        assert supervisor_holds_actuator.wait(5)
        result = Result(ok=True, summary="restarted", details={"state": {"version": "v1", "replicas": []}})
        finished = _finish(action.pk, result, actuator)
        job.result(timeout=10)  # raises if PostgreSQL had to break a deadlock on that side
    assert finished.status == "succeeded"
    actuator.refresh_from_db()
    assert actuator.state == {"version": "v1", "replicas": []}


def test_the_pause_switch_turns_automatic_actions_into_dry_runs(owner: Any, endpoint: str) -> None:
    component = _setup(owner, endpoint)
    services.healing_pause_set(actor=owner, paused=True, reason="maintenance window")
    action = services.heal_signal(signal_id=_signal(component).pk).action
    assert (action.status, action.mode, action.in_flight) == ("skipped", "dry_run", False)
    assert "paused for this user: maintenance window" in action.reason and action.plan["steps"]
    assert services.action_execute(action_id=action.pk).status == "skipped"
    assert Endpoint.received == []  # nothing was done
    assert RecoveryAction.objects.filter(action_type="alert_escalation", component=component).exists()

    services.healing_pause_set(actor=owner, paused=False)
    assert services.heal_signal(signal_id=_signal(component, metric="error_rate:2").pk).action.status == "approved"


def test_an_approval_that_expires_never_runs(owner: Any, endpoint: str, settings: Any) -> None:
    component = _setup(owner, endpoint, mode="approval")
    action = services.heal_signal(signal_id=_signal(component).pk).action
    assert action.status == "pending_approval" and action.approval_expires_at is not None
    later = action.approval_expires_at + timedelta(seconds=1)
    assert services.healing_cycle(now=later)["expired"] == 1
    action.refresh_from_db()
    assert (action.status, action.in_flight) == ("expired", False)
    with pytest.raises(ConflictError, match="pending approval"):
        services.action_approve(actor=owner, action=action)
    assert services.action_execute(action_id=action.pk).status == "expired"
    assert Endpoint.received == []
    assert RecoveryAction.objects.filter(action_type="alert_escalation", reason__contains="expired").exists()


def test_approved_by_a_person_it_runs(owner: Any, endpoint: str) -> None:
    component = _setup(owner, endpoint, mode="approval")
    action = services.heal_signal(signal_id=_signal(component).pk).action
    action = services.action_approve(actor=owner, action=action, reason="looks right")
    assert action.status == "approved" and action.decided_by == owner
    assert services.action_execute(action_id=action.pk).status == "succeeded"
    assert len(Endpoint.received) == 1


def test_when_most_components_fail_at_once_healing_only_observes(owner: Any, endpoint: str) -> None:
    component = _setup(owner, endpoint)
    for i in range(3):
        factories.ComponentFactory(owner=owner, name=f"peer-{i}", status="critical")
    Component.objects.filter(pk=component.pk).update(status="critical")
    action = services.heal_signal(signal_id=_signal(component).pk).action
    assert action.mode == "dry_run" and "4 of 4 components are failing" in action.reason
    assert Endpoint.received == []


def test_a_component_that_cannot_be_acted_on_escalates(owner: Any, endpoint: str) -> None:
    component = _setup(owner, endpoint, chain=[])
    Actuator.objects.filter(component=component).delete()
    decision = services.heal_signal(signal_id=_signal(component).pk)
    assert decision.action.action_type == "alert_escalation"
    assert "nothing left to try" in decision.action.reason


def test_a_silenced_or_unmatched_signal_is_left_alone(owner: Any, endpoint: str) -> None:
    component = _setup(owner, endpoint)
    silenced = services.heal_signal(signal_id=_signal(component, silenced=True, metric="x").pk)
    assert silenced.outcome == "skipped" and silenced.reason.startswith("opened during a silence")
    other = factories.ComponentFactory(owner=owner, name="search")
    low = services.heal_signal(signal_id=_signal(other, kind="latency_spike", metric="latency_p95_ms").pk)
    assert low.outcome == "skipped" and low.reason == "no enabled policy matches its signals"
    assert not RecoveryAction.objects.exists()


def test_new_users_start_with_default_policies(db: Any) -> None:
    user = factories.UserFactory(username="carol")
    names = list(RecoveryPolicy.objects.filter(owner=user).values_list("name", flat=True))
    assert len(names) == len(services.DEFAULT_POLICIES) and "Restart when it stops answering" in names


def test_rollback_goes_to_the_last_version_that_was_healthy(admin: Any) -> None:
    import sys

    from recovery import supervisor
    from recovery.models import Deployment
    from recovery.services import process_control

    sleeper = [sys.executable, "-c", "import time\nwhile True: time.sleep(1)"]
    component = factories.ComponentFactory(owner=admin, name="shop")
    actuator = Actuator.objects.create(
        owner=admin, component=component, kind="process",
        config={"versions": {v: {"argv": sleeper, "env": {}, "cwd": ""} for v in ("v1", "v2", "v3")},
                "version": "v1", "replicas": 1, "max_replicas": 2, "stop_timeout_s": 2},
    )  # fmt: skip
    try:
        process_control(actor=admin, actuator=actuator, operation="start")
        v1 = Deployment.objects.get(component=component)
        Deployment.objects.filter(pk=v1.pk).update(deployed_at=timezone.now() - timedelta(hours=2))
        _events(component, 0.0, timezone.now() - timedelta(hours=2))  # v1 ran healthy
        process_control(actor=admin, actuator=actuator, operation="deploy", version="v2")
        Deployment.objects.filter(version="v2").update(
            known_good=False, deployed_at=timezone.now() - timedelta(hours=1)
        )
        actuator.refresh_from_db()
        process_control(actor=admin, actuator=actuator, operation="deploy", version="v3")  # the bad release
        assert services.last_good_version(component, "v3") == "v1"

        action = services.action_create_manual(
            actor=admin, component=component, action_type="rollback_deployment", parameters={}, reason="bad release"
        )
        assert (
            "1 at a time at most, with version v1, the next only after the last answers its probe"
            in action.plan["steps"]
        )
        action = services.action_execute(action_id=action.pk)
        assert action.status == "succeeded", action.result
        actuator.refresh_from_db()
        assert actuator.state["version"] == "v1" and len(supervisor.running(actuator.state)) == 1
        assert Deployment.objects.filter(component=component).first().version == "v1"  # recorded in the history
    finally:
        actuator.refresh_from_db()
        for entry in actuator.state.get("replicas", []):
            supervisor.stop(entry, timeout_s=2)


def test_an_exited_replica_is_restarted_by_the_supervisor_through_the_engine(admin: Any) -> None:
    import os
    import signal as signals
    import sys

    from recovery import supervisor
    from recovery.services import process_control

    sleeper = [sys.executable, "-c", "import time\nwhile True: time.sleep(1)"]
    component = factories.ComponentFactory(owner=admin, name="jobs")
    actuator = Actuator.objects.create(
        owner=admin, component=component, kind="process",
        config={"versions": {"v1": {"argv": sleeper, "env": {}, "cwd": ""}}, "version": "v1", "replicas": 1,
                "max_replicas": 2, "stop_timeout_s": 2},
    )  # fmt: skip
    try:
        process_control(actor=admin, actuator=actuator, operation="start")
        assert services.supervise_processes() == 0  # all running: nothing to do
        actuator.refresh_from_db()
        (entry,) = actuator.state["replicas"]
        os.kill(entry["pid"], signals.SIGKILL)
        deadline = time.monotonic() + 5
        while supervisor.alive(entry) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert services.supervise_processes() == 1
        action = RecoveryAction.objects.get(component=component)
        assert action.reason == f"supervisor: replica 0 (pid {entry['pid']}) exited" and action.status == "approved"
        assert services.supervise_processes() == 0  # one in flight: no second restart
        action = services.action_execute(action_id=action.pk)
        actuator.refresh_from_db()
        (fresh,) = supervisor.running(actuator.state)
        assert action.status == "succeeded" and fresh["pid"] != entry["pid"]
        assert action.verify_at == action.finished_at + timedelta(seconds=services.SUPERVISED_VERIFY_S)
    finally:
        actuator.refresh_from_db()
        for replica in actuator.state.get("replicas", []):
            supervisor.stop(replica, timeout_s=2)


def test_a_fresh_deploy_gets_time_to_start_and_a_recovered_metric_is_left_alone(owner: Any, endpoint: str) -> None:
    from recovery.models import Deployment

    component = _setup(owner, endpoint, kinds=["availability_drop"], chain=[])
    Deployment.objects.create(owner=owner, component=component, version="v2")
    down = _signal(component, kind="availability_drop", metric="availability", observed_value=0.0,
                   expected_value=1.0, band_low=0.99, band_high=1.0)  # fmt: skip
    decision = services.heal_signal(signal_id=down.pk)
    assert decision.outcome == "deferred" and "v2 was deployed 0 s ago: giving it time to start" in decision.reason
    assert not RecoveryAction.objects.exists()
    # It answered again meanwhile: when the grace is over there is nothing to do.
    AnomalySignal.objects.filter(pk=down.pk).update(normal_since=timezone.now())
    later = decision.retry_at + timedelta(seconds=1)
    assert services.heal_signal(signal_id=down.pk, now=later).reason.startswith("its metrics are back to normal")
    assert not RecoveryAction.objects.exists()
