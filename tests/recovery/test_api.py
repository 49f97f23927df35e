"""The recovery API: manual actions with dry run first, approve/reject/cancel, statistics, policies, the
pause switch and deployments. Bad input gets a clear 4xx and stores nothing."""

from __future__ import annotations

from typing import Any

from anomalies.services import signal_resolve
from recovery import services
from recovery.models import HealingSwitch, RecoveryAction, RecoveryPolicy
from tests import factories
from tests.endpoints import Endpoint
from tests.recovery.test_engine import _setup, _signal

ACTIONS = "/api/v1/recovery-actions/"


def test_dry_run_first_then_run_by_hand(
    owner: Any, api_for: Any, endpoint: str, django_capture_on_commit_callbacks: Any
) -> None:
    component = _setup(owner, endpoint)
    api = api_for(owner)
    body = {"component": component.pk, "action_type": "scale_up", "parameters": {"replicas": 3}}
    plan = api.post(f"{ACTIONS}dry-run/", body, format="json")
    assert plan.status_code == 200 and plan.json()["plan"]["steps"][0].startswith("POST a signed scale_up")
    assert not RecoveryAction.objects.exists() and Endpoint.received == []  # nothing stored, nothing sent

    recorded = api.post(ACTIONS, {**body, "reason": "try it", "dry_run": True}, format="json")
    assert recorded.status_code == 201 and recorded.json()["status"] == "skipped"
    assert Endpoint.received == []

    with django_capture_on_commit_callbacks() as callbacks:
        ran = api.post(ACTIONS, {**body, "reason": "queue is backing up"}, format="json")
    assert ran.status_code == 201 and ran.json()["status"] == "approved"
    assert callbacks  # the execution is queued after commit
    busy = api.post(ACTIONS, {**body, "reason": "again"}, format="json")
    assert busy.status_code == 409 and "in flight" in busy.json()["detail"]
    services.action_execute(action_id=ran.json()["id"])
    assert len(Endpoint.received) == 1


def test_bad_input_is_refused_and_nothing_is_stored(owner: Any, api_for: Any, endpoint: str) -> None:
    component = _setup(owner, endpoint)
    api = api_for(owner)
    for body, message in [
        ({"component": component.pk, "action_type": "explode", "reason": "x"}, "action_type"),
        ({"component": component.pk, "action_type": "scale_up", "parameters": {"replicas": 0}, "reason": "x"},
         "replicas must be a whole number from 1 to 100"),
        ({"component": component.pk, "action_type": "clear_cache", "reason": "x"}, "needs a cache actuator"),
        ({"component": component.pk, "action_type": "scale_up", "reason": ""}, "reason"),
    ]:  # fmt: skip
        response = api.post(ACTIONS, body, format="json")
        assert response.status_code == 400, response.content
        assert message in response.content.decode()
    assert not RecoveryAction.objects.exists()


def test_approve_reject_cancel(
    owner: Any, api_for: Any, endpoint: str, django_capture_on_commit_callbacks: Any
) -> None:
    component = _setup(owner, endpoint, mode="approval")
    api = api_for(owner)
    first = services.heal_signal(signal_id=_signal(component).pk).action
    refused = api.post(f"{ACTIONS}{first.pk}/reject/", {}, format="json")
    assert refused.status_code == 400 and "reason is required" in refused.json()["detail"]
    rejected = api.post(f"{ACTIONS}{first.pk}/reject/", {"reason": "not during the sale"}, format="json")
    assert rejected.json()["status"] == "rejected" and rejected.json()["in_flight"] is False
    again = api.post(f"{ACTIONS}{first.pk}/approve/", {}, format="json")
    assert again.status_code == 409

    # The operator dealt with that fault by hand; a later one is a new incident, decided again.
    signal_resolve(actor=owner, signal=first.signal, note="fixed by hand")
    second = services.heal_signal(signal_id=_signal(component, metric="error_rate:2").pk).action
    with django_capture_on_commit_callbacks():
        approved = api.post(f"{ACTIONS}{second.pk}/approve/", {"reason": "go"}, format="json")
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == owner.pk
    cancelled = api.post(f"{ACTIONS}{second.pk}/cancel/", {"reason": "fixed by hand"}, format="json")
    assert cancelled.json()["status"] == "cancelled"
    assert services.action_execute(action_id=second.pk).status == "cancelled"
    assert Endpoint.received == []


def test_statistics(owner: Any, api_for: Any) -> None:
    component = factories.ComponentFactory(owner=owner, name="api")
    for verdict, score, ttr in [("resolved", 1.0, 40.0), ("resolved", 1.0, 80.0), ("no_effect", 0.0, None)]:
        factories.RecoveryActionFactory(
            component=component, status="succeeded", verdict=verdict, effectiveness=score, time_to_recover_s=ttr
        )
    factories.RecoveryActionFactory(component=component, status="failed")
    factories.RecoveryActionFactory(component=component, status="succeeded", action_type="alert_escalation")
    stats = api_for(owner).get(f"{ACTIONS}statistics/").json()
    assert stats["total"] == 4 and stats["success_rate"] == 0.75 and stats["escalations"] == 1
    assert stats["helped_rate"] == round(2 / 3, 4) and stats["mean_time_to_recover_s"] == 60.0
    assert stats["by_component"]["api"]["total"] == 4
    assert stats["by_type"]["restart_function"]["effectiveness"] == round(2 / 3, 4)
    assert api_for(owner).get(f"{ACTIONS}statistics/?range=9y").status_code == 400


def test_policies_are_validated(owner: Any, api_for: Any) -> None:
    api = api_for(owner)
    before = RecoveryPolicy.objects.filter(owner=owner).count()
    bad = api.post("/api/v1/recovery-policies/", {"name": "x", "action_type": "restart_function",
                   "chain": [{"action_type": "scale_up", "parameters": {"by": 0}}]}, format="json")  # fmt: skip
    assert bad.status_code == 400 and "scale_up" in bad.json()["detail"]
    good = api.post("/api/v1/recovery-policies/", {"name": "cache", "action_type": "clear_cache",
                    "parameters": {"prefix": "sessions:"}, "kinds": ["latency_spike"]}, format="json")  # fmt: skip
    assert good.status_code == 201, good.content
    assert RecoveryPolicy.objects.filter(owner=owner).count() == before + 1


def test_the_pause_switch(owner: Any, admin: Any, api_for: Any) -> None:
    assert api_for(owner).post("/api/v1/healing/", {"paused": True, "everyone": True}, format="json").status_code == 403
    mine = api_for(owner).post("/api/v1/healing/", {"paused": True, "reason": "deploy"}, format="json").json()
    assert mine == {"paused_globally": False, "paused_for_me": True, "global_reason": "", "my_reason": "deploy"}
    api_for(admin).post("/api/v1/healing/", {"paused": True, "everyone": True, "reason": "incident"}, format="json")
    assert api_for(owner).get("/api/v1/healing/").json()["paused_globally"] is True
    assert services.healing_paused(owner.pk).startswith("automatic healing is paused")
    assert HealingSwitch.objects.count() == 2
