"""The circuit breaker: opens, refuses, half-opens by itself, closes after good trials, backs off on bad ones."""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

import pytest
from django.utils import timezone

from core314.models import AuditLogEntry
from health import services as health_services
from health.models import ExecutionRecord
from recovery import services
from recovery.client import CircuitBreakerClient
from recovery.models import CircuitBreaker
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db


def test_open_refuse_half_open_close(owner: Any) -> None:
    component = ComponentFactory(owner=owner, name="payments")
    assert services.breaker_view(None, component).allow is True
    breaker = services.breaker_open(actor=owner, component=component, reason="errors 40 %", cooldown_s=30)
    now = timezone.now()
    view = services.breaker_view(breaker, component, now)
    assert (view.state, view.allow) == ("open", False) and 29 < view.retry_after_s <= 30
    later = now + dt.timedelta(seconds=31)
    assert services.breaker_view(breaker, component, later).state == "half_open"
    services.breaker_record_trial(component_id=component.pk, ok=True, now=later)
    breaker.refresh_from_db()
    assert breaker.effective_state(later) == "half_open" and breaker.trial_passed == 1
    services.breaker_record_trial(component_id=component.pk, ok=True, now=later)
    breaker.refresh_from_db()
    assert breaker.state == "closed" and breaker.cooldown_s == 30
    actions = list(AuditLogEntry.objects.filter(object_type="recovery.circuitbreaker").order_by("id").values_list(
        "action", flat=True))  # fmt: skip
    assert actions == ["circuit_breaker.open", "circuit_breaker.closed"]


def test_a_failed_trial_reopens_with_a_longer_cooldown(owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    services.breaker_open(actor=owner, component=component, reason="x", cooldown_s=30)
    later = timezone.now() + dt.timedelta(seconds=31)
    breaker = services.breaker_record_trial(component_id=component.pk, ok=False, now=later)
    assert breaker.state == "open" and breaker.cooldown_s == 60
    assert breaker.half_open_at == later + dt.timedelta(seconds=60)
    for step in range(10):  # the wait doubles up to its cap
        breaker = services.breaker_record_trial(
            component_id=component.pk, ok=False, now=breaker.half_open_at + dt.timedelta(seconds=1 + step)
        )
    assert breaker.cooldown_s == breaker.max_cooldown_s == 600


def test_a_trial_outside_half_open_changes_nothing(owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    breaker = services.breaker_open(actor=owner, component=component, reason="x", cooldown_s=300)
    services.breaker_record_trial(component_id=component.pk, ok=True)
    breaker.refresh_from_db()
    assert breaker.state == "open" and breaker.trial_passed == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_probes_respect_the_breaker(owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    health_services.probe_create(actor=owner, component=component, kind="tcp", target=f"127.0.0.1:{_closed_port()}")
    services.breaker_open(actor=owner, component=component, reason="x", cooldown_s=30)
    now = timezone.now()
    assert health_services.probes_run_due(now=now) == 1
    assert not ExecutionRecord.objects.exists()  # not probed, and no phantom failure recorded
    # In half-open the probe runs and is the trial: a failure reopens the breaker with a longer wait.
    health_services.probes_run_due(now=now + dt.timedelta(seconds=40))
    breaker = CircuitBreaker.objects.get()
    assert ExecutionRecord.objects.filter(error_kind="refused").count() == 1
    assert breaker.state == "open" and breaker.cooldown_s == 60


def test_the_api_and_its_cheap_read(api_for: Any, service_account: Any, other_user: Any) -> None:
    component = ComponentFactory(owner=service_account.account.owner, name="payments")
    client = api_for(service_account)
    state = client.get("/api/v1/circuit-breakers/state/?component=payments").json()
    assert state == {"component_id": component.pk, "component": "payments", "state": "closed", "allow": True,
                     "retry_after_s": None}  # fmt: skip
    opened = client.post("/api/v1/circuit-breakers/open/", {"component": component.pk, "reason": "x"}, format="json")
    assert opened.status_code == 200 and opened.json()["state"] == "open"
    assert client.get(f"/api/v1/circuit-breakers/state/?component={component.pk}").json()["allow"] is False
    foreign = api_for(other_user)
    assert foreign.get("/api/v1/circuit-breakers/state/?component=payments").status_code == 404
    assert foreign.post("/api/v1/circuit-breakers/open/", {"component": component.pk, "reason": "x"},
                        format="json").status_code == 404  # fmt: skip
    breaker_id = opened.json()["id"]
    assert client.post(f"/api/v1/circuit-breakers/{breaker_id}/close/").json()["state"] == "closed"


@pytest.mark.django_db(transaction=True)
def test_the_python_helper_against_a_live_server(live_server: Any, service_account: Any) -> None:
    component = ComponentFactory(owner=service_account.account.owner, name="payments")
    client = CircuitBreakerClient(live_server.url, token=service_account.token, cache_s=0)
    assert client.allow("payments") is True
    services.breaker_open(actor=service_account.account.owner, component=component, reason="x", cooldown_s=1)
    assert client.allow("payments") is False
    CircuitBreaker.objects.filter(component=component).update(half_open_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.allow("payments") is True  # half-open: trial calls are allowed
    client.report("payments", ok=True)
    client.report("payments", ok=True)
    assert CircuitBreaker.objects.get(component=component).state == "closed"
    unreachable = CircuitBreakerClient(f"http://127.0.0.1:{_closed_port()}", token="x", timeout_s=0.2)
    assert unreachable.allow("payments") is True  # fails open


def test_the_recovery_manager_lists_my_breakers(client_for: Any, owner: Any, other_user: Any) -> None:
    mine = ComponentFactory(owner=owner, name="payments")
    theirs = ComponentFactory(owner=other_user, name="their-db")
    services.breaker_open(actor=owner, component=mine, reason="errors 40 %", cooldown_s=60)
    services.breaker_open(actor=other_user, component=theirs, reason="x", cooldown_s=60)
    html = client_for(owner).get("/recovery-manager").content.decode()
    assert "payments" in html and "errors 40 %" in html and "their-db" not in html


def test_the_breaker_action_plans_without_opening_anything(owner: Any) -> None:
    from recovery.executors.breaker import CircuitBreakerAction

    component = ComponentFactory(owner=owner, name="payments")
    executor = CircuitBreakerAction()
    plan = executor.plan(executor.clean({"cooldown_s": 45}), {"component": "payments", "component_id": component.pk})
    assert plan.steps[0] == "open the circuit breaker of payments: calls refused for 45 s"
    assert not CircuitBreaker.objects.exists()  # the dry run opened nothing
    result = executor.execute({"cooldown_s": 45}, {"component_id": component.pk, "action_id": 7}, timeout_s=5)
    assert result.ok and CircuitBreaker.objects.get(component=component).state == "open"
