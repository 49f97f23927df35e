"""Safety across processes: limits held by the database hold across two worker processes, and an action
whose worker is killed mid-way is never executed a second time when its task is delivered again."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from core314.models import AuditLogEntry
from recovery import services
from recovery.models import Backoff, HealingDecision, RecoveryAction
from tests.endpoints import Endpoint
from tests.processes import celery_worker
from tests.recovery.test_engine import _setup, _signal

pytestmark = pytest.mark.django_db(transaction=True)


def _decide_all(signal_ids: list[int]) -> list[str]:
    # A forked child must not share the parent's database socket.
    for conn in connections.all(initialized_only=True):
        conn.inc_thread_sharing()
        conn.connection = None
    outcomes = [services.heal_signal(signal_id=pk).outcome for pk in signal_ids]
    connections.close_all()
    return outcomes


def _in_two_processes(signal_ids: list[int]) -> list[str]:
    connections.close_all()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        halves = pool.map(_decide_all, [signal_ids[0::2], signal_ids[1::2]])
    return [outcome for half in halves for outcome in half]


def test_one_in_flight_cooldown_and_hourly_cap_hold_across_two_processes(
    owner: Any, endpoint: str, settings: Any
) -> None:
    settings.CORE314_INCIDENT_WINDOW = 0  # twenty separate incidents on one component: the guards must hold
    component = _setup(owner, endpoint, max_per_hour=3)
    ids = [_signal(component, metric=f"error_rate:{n}").pk for n in range(20)]
    outcomes = _in_two_processes(ids)
    assert RecoveryAction.objects.exclude(action_type="alert_escalation").count() == 1  # one in flight
    assert sorted(set(outcomes)) == ["acted", "deferred"]

    # Cooling down: nothing runs until the backoff says so, whichever process decides.
    RecoveryAction.objects.update(in_flight=False, status="succeeded")
    Backoff.objects.update_or_create(
        component=component, action_type="restart_function",
        defaults={"owner": owner, "attempts": 2, "next_allowed_at": timezone.now() + timedelta(minutes=4)},
    )  # fmt: skip
    HealingDecision.objects.all().delete()
    RecoveryAction.objects.update(signal=None, incident=None)
    outcomes = _in_two_processes(ids)
    assert set(outcomes) == {"deferred"}
    assert RecoveryAction.objects.exclude(action_type="alert_escalation").count() == 1
    assert all("cooling down" in d.reason for d in HealingDecision.objects.all())

    # The hourly cap: three runs this hour already, so the next decision escalates, once, loudly.
    Backoff.objects.all().delete()
    HealingDecision.objects.all().delete()
    first = RecoveryAction.objects.get()
    for _ in range(2):
        first.pk = None
        first.save()
    outcomes = _in_two_processes(ids)
    assert RecoveryAction.objects.exclude(action_type="alert_escalation").count() == 3
    escalations = RecoveryAction.objects.filter(action_type="alert_escalation")
    assert escalations.count() == 1 and "reached 3 runs this hour" in escalations.get().reason


def test_a_worker_killed_during_execute_never_runs_the_action_twice(owner: Any, endpoint: str) -> None:
    Endpoint.delay_s = 20  # the operator's endpoint is slow: the worker dies while waiting for it
    component = _setup(owner, endpoint, mode="approval")
    component.actuators.update(config={"url": endpoint, "secret": "a-shared-secret-of-some-length", "timeout_s": 25})
    action = services.heal_signal(signal_id=_signal(component).pk).action
    redeliver = {"CELERY_VISIBILITY_TIMEOUT": "3"}

    with celery_worker(**redeliver) as worker:
        services.action_approve(actor=owner, action=action)  # queues the execution
        deadline = time.monotonic() + 30
        while not Endpoint.received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(Endpoint.received) == 1, worker.log_path.read_text()[-2000:]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    action.refresh_from_db()
    assert action.status == "running"

    time.sleep(4)  # past the visibility timeout: the broker hands the unacknowledged task out again
    with celery_worker(**redeliver) as second:
        deadline = time.monotonic() + 30
        while action.status == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
            action.refresh_from_db()
        log = second.log_path.read_text()
    assert action.status == "failed", log[-2000:]
    assert "recovery.execute" in log and "outcome is unknown" in action.error
    assert len(Endpoint.received) == 1  # executed once, never again
    assert AuditLogEntry.objects.filter(action="recovery.failed_unknown", object_id=str(action.pk)).exists()
    assert RecoveryAction.objects.filter(action_type="alert_escalation", reason__contains="lost mid-way").exists()
