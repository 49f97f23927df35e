"""Learning which repairs work, replaying a policy before trusting it, and scaling back in: on the real
database, with real webhook calls and real processes."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from anomalies.services import signal_resolve
from core314.models import AuditLogEntry
from health.models import Component
from recovery import services, supervisor
from recovery.models import Actuator, Demotion, RecoveryAction, RecoveryPolicy, ScaleOut
from tests import factories
from tests.recovery.test_engine import _events, _setup, _signal

pytestmark = pytest.mark.django_db


def _failed_restart(component: Component, at: Any) -> RecoveryAction:
    """One incident on ``component`` whose restart ran (a real webhook call) and did not help."""
    signal = _signal(component, first_seen_at=at)
    decision = services.heal_signal(signal_id=signal.pk, now=at)
    assert decision is not None and decision.action is not None, decision and decision.reason
    action = services.action_execute(action_id=decision.action.pk, now=at)
    assert action is not None and action.status == "succeeded", action and action.result
    _events(component, 0.45, action.finished_at)
    action = services.action_verify(action_id=action.pk, now=action.verify_at + timedelta(seconds=1))
    assert action is not None and action.verdict in {"no_effect", "worse"}
    signal_resolve(actor=None, signal=signal, note="fixed by hand")  # the next fault is a new incident
    return action


def test_a_repair_that_fails_three_times_in_a_row_is_demoted_there(owner: Any, endpoint: str, client_for: Any) -> None:
    component = _setup(owner, endpoint, chain=[{"action_type": "alert_escalation"}], cooldown_s=1)
    start = timezone.now()
    failed = [_failed_restart(component, start + timedelta(hours=n)) for n in range(3)]
    demotion = Demotion.objects.get(component=component, cleared_at__isnull=True)
    assert demotion.action_type == "restart_function" and demotion.actions == [a.pk for a in reversed(failed)]
    assert "failed 3 times in a row here" in demotion.reason
    assert AuditLogEntry.objects.filter(action="recovery.demoted").count() == 1

    # The next fault: the policy now has another step, and the demoted restart goes after it.
    RecoveryPolicy.objects.filter(owner=owner).update(
        chain=[
            {"action_type": "circuit_breaker", "parameters": {"cooldown_s": 30}},
            {"action_type": "alert_escalation"},
        ]
    )
    at = start + timedelta(hours=4)
    decision = services.heal_signal(signal_id=_signal(component, first_seen_at=at).pk, now=at)
    assert decision is not None and decision.action is not None
    assert decision.action.action_type == "circuit_breaker"
    assert "restart_function is demoted here (failed 3 times in a row" in decision.action.reason
    assert decision.action.chain_order == [1, 0, 2]

    page = client_for(owner).get("/recovery-manager").content.decode()
    assert 'id="demotions"' in page and "failed 3 times in a row here" in page
    response = client_for(owner).post(f"/recovery-manager/demotions/{demotion.pk}/clear", {"reason": "fixed the hook"})
    assert response.status_code == 302
    demotion.refresh_from_db()
    assert demotion.cleared_at is not None and demotion.clear_reason == "fixed the hook"
    assert AuditLogEntry.objects.filter(action="recovery.demotion_cleared", reason="fixed the hook").exists()


def test_a_restart_that_helps_again_is_restored_by_itself(owner: Any, endpoint: str) -> None:
    component = _setup(owner, endpoint, chain=[{"action_type": "alert_escalation"}], cooldown_s=1)
    start = timezone.now()
    for n in range(3):
        _failed_restart(component, start + timedelta(hours=n))
    demotion = Demotion.objects.get(component=component)
    manual = services.action_create_manual(
        actor=owner, component=component, action_type="restart_function", parameters={}, reason="try it once more"
    )
    manual = services.action_execute(action_id=manual.pk)
    _events(component, 0.0, manual.finished_at)
    services.action_verify(action_id=manual.pk, now=manual.verify_at + timedelta(seconds=1))
    demotion.refresh_from_db()
    assert demotion.cleared_at is not None and f"action #{manual.pk} helped" in demotion.clear_reason


def _history(owner: Any, action_type: str, verdict: str, count: int) -> None:
    """Judged repairs on other components of the same type, for the same kind of signal."""
    for _ in range(count):
        other = factories.ComponentFactory(owner=owner)
        signal = _signal(other)
        factories.RecoveryActionFactory(
            component=other, signal=signal, action_type=action_type, mode="automatic", status="succeeded",
            verdict=verdict, verified_at=timezone.now(),
        )  # fmt: skip


def test_a_chain_starts_with_what_has_worked_best_here_unless_pinned(owner: Any, endpoint: str, api_for: Any) -> None:
    component = _setup(owner, endpoint)  # restart, then the circuit breaker
    _history(owner, "restart_function", "no_effect", 5)
    _history(owner, "circuit_breaker", "resolved", 4)
    first = _signal(component)
    decision = services.heal_signal(signal_id=first.pk)
    assert decision is not None and decision.action is not None
    assert decision.action.action_type == "circuit_breaker"
    assert "starting with circuit_breaker: helped 4 of 4 times on api components" in decision.action.reason
    assert "(the policy's first, restart_function: helped 0 of 5 times on api components)" in decision.action.reason

    policy = RecoveryPolicy.objects.get(owner=owner)
    record = api_for(owner).get(f"/api/v1/recovery-policies/{policy.pk}/track-record/").json()
    by_type = {(r["action_type"], r["scope"]): r for r in record["records"]}
    assert by_type[("restart_function", "type api")]["tries"] == 5
    assert by_type[("restart_function", "type api")]["no_effect"] == 5
    assert by_type[("circuit_breaker", "type api")]["rate"] == 1.0

    services.action_cancel(actor=owner, action=decision.action, reason="test")
    signal_resolve(actor=None, signal=first, note="test")
    services.policy_save(actor=owner, owner=owner, policy=policy, pinned=True)
    pinned = services.heal_signal(signal_id=_signal(component).pk)
    assert pinned is not None and pinned.action is not None and pinned.action.action_type == "restart_function"


def test_a_policy_becomes_automatic_on_evidence_or_an_administrators_reason(
    owner: Any, admin: Any, endpoint: str, api_for: Any
) -> None:
    component = _setup(owner, endpoint, mode="dry_run")
    policy = RecoveryPolicy.objects.get(owner=owner)
    url = f"/api/v1/recovery-policies/{policy.pk}/"
    refused = api_for(owner).patch(url, {"mode": "automatic"}, format="json")
    assert refused.status_code == 400 and "has 0 of the 3 dry or approved runs" in refused.json()["detail"]
    policy.refresh_from_db()
    assert policy.mode == "dry_run"  # nothing stored

    not_admin = api_for(owner).patch(url, {"mode": "automatic", "promotion_reason": "trust me"}, format="json")
    assert not_admin.status_code == 403
    promoted = api_for(admin).patch(url, {"mode": "automatic", "promotion_reason": "vendor runbook"}, format="json")
    assert promoted.status_code == 200, promoted.content
    entry = AuditLogEntry.objects.get(action="policy.promote")
    assert "without a track record: vendor runbook" in entry.reason and entry.after["mode"] == "automatic"

    # With evidence: dry runs whose plan a person then carried out, and it helped.
    RecoveryPolicy.objects.filter(pk=policy.pk).update(mode="dry_run")
    for n in range(3):
        at = timezone.now() - timedelta(hours=3 - n)
        dry = factories.RecoveryActionFactory(
            component=component, policy=policy, mode="dry_run", status="skipped", created_at=at
        )
        factories.RecoveryActionFactory(
            component=component, mode="approval", status="succeeded", verdict="resolved",
            created_at=dry.created_at + timedelta(minutes=5),
        )  # fmt: skip
    assert len(services.promotion_evidence(policy)) == 3
    earned = api_for(owner).patch(url, {"mode": "automatic"}, format="json")
    assert earned.status_code == 200, earned.content
    assert (
        "3 runs matched a repair that helped"
        in AuditLogEntry.objects.filter(action="policy.promote").order_by("-id").first().reason
    )


def test_a_replay_of_the_demo_policies_over_a_recorded_day(admin: Any, api_for: Any) -> None:
    from core314.demo.services import demo_ensure

    component = demo_ensure(owner=admin)
    start = timezone.now() - timedelta(hours=20)
    day = [  # what happened to the demo yesterday
        (0, "availability_drop", "availability", "high"),
        (5, "availability_drop", "availability", "high"),  # 5 s later: still cooling down (10 s)
        (3600, "latency_spike", "latency_p95_ms", "medium"),
        (7200, "resource_exhaustion", "cpu_percent", "high"),
        (10800, "error_rate_increase", "error_rate", "medium"),
        (14400, "latency_spike", "latency_p95_ms", "low"),  # below every policy's severity
    ]
    signals = [
        _signal(
            component,
            kind=kind,
            metric=metric,
            severity=severity,
            first_seen_at=start + timedelta(seconds=s),
            status="resolved",
        )
        for s, kind, metric, severity in day
    ]
    real = factories.RecoveryActionFactory(
        component=component, signal=signals[0], action_type="restart_function", mode="automatic",
        status="succeeded", verdict="resolved",
    )  # fmt: skip
    outcomes = {}
    for policy in RecoveryPolicy.objects.filter(owner=admin, name__startswith="Demo:"):
        response = api_for(admin).post(f"/api/v1/recovery-policies/{policy.pk}/replay/", {"days": 1}, format="json")
        assert response.status_code == 200, response.content
        outcomes[policy.name] = response.json()
    stops = outcomes["Demo: restart when it stops answering"]
    assert stops["actions"] == {"restart_function (automatic)": 1} and stops["outcomes"]["cooling_down"] == 1
    assert stops["rows"][0]["real_action"] == real.pk and stops["real"] == {
        "same_action_ran": 1, "helped": 1, "other_action_ran": 0, "nothing_ran": 0,
    }  # fmt: skip
    assert outcomes["Demo: restart on slowness or a leak"]["actions"] == {"restart_function (automatic)": 1}
    assert outcomes["Demo: scale out when CPU saturates"]["actions"] == {"scale_up (automatic)": 1}
    assert outcomes["Demo: errors — roll back a bad release, else break the circuit"]["actions"] == {
        "rollback_deployment (approval)": 1
    }
    # A changed policy: only critical signals would be acted on.
    policy = RecoveryPolicy.objects.get(owner=admin, name="Demo: restart when it stops answering")
    changed = api_for(admin).post(
        f"/api/v1/recovery-policies/{policy.pk}/replay/",
        {"days": 1, "changes": {"min_severity": "critical"}},
        format="json",
    )
    assert changed.status_code == 200 and changed.json()["matched"] == 0
    too_long = api_for(admin).post(f"/api/v1/recovery-policies/{policy.pk}/replay/", {"days": 31}, format="json")
    assert too_long.status_code == 400 and "days must be" in too_long.json()["detail"]
    bad = api_for(admin).post(
        f"/api/v1/recovery-policies/{policy.pk}/replay/", {"days": 1, "changes": {"owner": 3}}, format="json"
    )
    assert bad.status_code == 400 and "not owner" in bad.json()["detail"]
    page = api_for(admin).get(f"/recovery-manager/policies/{policy.pk}/?replay=1&days=1")
    assert page.status_code == 200 and b'id="replay-rows"' in page.content and b"cooling down" in page.content


# --- Scaling back in --------------------------------------------------------------------------------------


def _cpu(component: Component, values: list[float], end: Any) -> None:
    for n, value in enumerate(values):
        start = end - timedelta(seconds=10 * (len(values) - n))
        factories.HealthEventFactory(
            component=component, window_start=start, window_end=start + timedelta(seconds=10), cpu_percent=value
        )


def test_after_a_scale_out_it_scales_back_in_to_the_count_it_had(admin: Any, settings: Any) -> None:
    settings.CORE314_SCALE_IN_COOLDOWN = 30
    sleeper = [sys.executable, "-c", "import time\nwhile True: time.sleep(1)"]
    RecoveryPolicy.objects.filter(owner=admin).delete()
    RecoveryPolicy.objects.create(
        owner=admin, name="scale out", kinds=["resource_exhaustion"], metrics=["cpu_percent"], min_severity="medium",
        action_type="scale_up", parameters={"by": 1}, mode="automatic", chain=[], verify_after_s=10,
    )  # fmt: skip
    component = factories.ComponentFactory(owner=admin, name="workers")
    actuator = Actuator.objects.create(
        owner=admin, component=component, kind="process",
        config={"versions": {"v1": {"argv": sleeper, "env": {}, "cwd": ""}}, "version": "v1", "replicas": 1,
                "max_replicas": 3, "min_replicas": 1, "stop_timeout_s": 2},
    )  # fmt: skip
    try:
        services.process_control(actor=admin, actuator=actuator, operation="start")
        hot = _signal(component, kind="resource_exhaustion", metric="cpu_percent", observed_value=97.0,
                      expected_value=30.0, band_low=0.0, band_high=60.0)  # fmt: skip
        out = services.action_execute(action_id=services.heal_signal(signal_id=hot.pk).action.pk)
        scale_out = ScaleOut.objects.get(component=component)
        assert (scale_out.from_replicas, scale_out.replicas, scale_out.steps) == (1, 2, 1)
        _cpu(component, [20.0, 18.0, 22.0], out.finished_at + timedelta(seconds=40))
        assert services.action_verify(action_id=out.pk, now=out.verify_at + timedelta(seconds=30)).verdict == "resolved"

        now = timezone.now()
        assert services.scale_in_sweep(now=now) == 0  # the cool-down has just begun
        scale_out.refresh_from_db()
        assert scale_out.waiting.startswith("cooling down")
        # Hysteresis: 35 % on two replicas would be 70 % on one, over the band's 60 %.
        later = now + timedelta(seconds=40)
        _cpu(component, [34.0, 35.0, 35.0], later)
        assert services.scale_in_sweep(now=later) == 0
        scale_out.refresh_from_db()
        assert "would be 70 with one replica fewer" in scale_out.waiting
        # Back in band, with room: one step in, automatic and audited.
        later += timedelta(seconds=40)
        _cpu(component, [12.0, 10.0, 11.0], later)
        assert services.scale_in_sweep(now=later) == 1
        back = RecoveryAction.objects.get(component=component, action_type="scale_down")
        assert back.mode == "automatic" and "scaling back in" in back.reason and "2 → 1 replica(s)" in back.reason
        back = services.action_execute(action_id=back.pk)
        actuator.refresh_from_db()
        assert back.status == "succeeded" and len(supervisor.running(actuator.state)) == 1
        scale_out.refresh_from_db()
        assert scale_out.ended_at is not None and scale_out.end_reason.startswith("back to 1 replica(s)")
        assert services.scale_in_sweep(now=later + timedelta(hours=1)) == 0  # never below the count before
        assert AuditLogEntry.objects.filter(action__in=["scaleout.open", "scaleout.end"]).count() == 2
    finally:
        actuator.refresh_from_db()
        for replica in actuator.state.get("replicas", []):
            supervisor.stop(replica, timeout_s=2)


def test_a_person_setting_the_count_ends_the_scale_out(admin: Any, settings: Any) -> None:
    sleeper = [sys.executable, "-c", "import time\nwhile True: time.sleep(1)"]
    component = factories.ComponentFactory(owner=admin, name="api")
    actuator = Actuator.objects.create(
        owner=admin, component=component, kind="process",
        config={"versions": {"v1": {"argv": sleeper, "env": {}, "cwd": ""}}, "version": "v1", "replicas": 1,
                "max_replicas": 3, "stop_timeout_s": 2},
    )  # fmt: skip
    ScaleOut.objects.create(
        owner=admin, component=component, metric="cpu_percent", from_replicas=1, replicas=2, steps=1, cooldown_s=30
    )
    try:
        services.process_control(actor=admin, actuator=actuator, operation="start", replicas=2)
        scale_out = ScaleOut.objects.get(component=component)
        assert scale_out.ended_at is not None and "their count stands" in scale_out.end_reason
        assert services.scale_in_sweep() == 0
    finally:
        actuator.refresh_from_db()
        for replica in actuator.state.get("replicas", []):
            supervisor.stop(replica, timeout_s=2)
