"""Healing a fleet: causes before symptoms, one arbiter for every automatic action (a storm of signals never
becomes a storm of restarts), one page for a storm."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from anomalies.models import AnomalySignal
from anomalies.services import signal_resolve
from health.models import Component
from recovery import services
from recovery.models import Actuator, HealingDecision, RecoveryAction, RecoveryPolicy
from tests import factories
from tests.recovery.test_engine import SECRET, _signal

pytestmark = pytest.mark.django_db


def _fleet(owner: Any, count: int, url: str = "https://hooks.example/heal") -> list[Component]:
    RecoveryPolicy.objects.filter(owner=owner).delete()
    RecoveryPolicy.objects.create(
        owner=owner, name="restart", kinds=[], min_severity="low", action_type="restart_function",
        mode="automatic", chain=[], verify_after_s=30, cooldown_s=1,
    )  # fmt: skip
    components = []
    for n in range(count):
        component = factories.ComponentFactory(owner=owner, name=f"svc-{n:02d}")
        Actuator.objects.create(
            owner=owner, component=component, kind="webhook", config={"url": url, "secret": SECRET, "timeout_s": 3}
        )
        components.append(component)
    return components


def test_a_symptom_waits_for_its_cause_and_is_healed_only_if_it_outlives_its_recovery(owner: Any) -> None:
    database, api = _fleet(owner, 2)
    api.depends_on.add(database)
    cause = _signal(database, kind="latency_spike", metric="latency_p95_ms")
    services.heal_signal(signal_id=cause.pk)
    symptom = _signal(api, cause=cause)  # the API depends on it: its signal joins the same incident
    decision = services.heal_signal(signal_id=symptom.pk)
    assert decision is not None and decision.outcome == "acted"
    assert decision.action is not None and decision.action.component == database  # the cause is healed, not the API
    assert RecoveryAction.objects.exclude(action_type="alert_escalation").count() == 1


def test_a_symptom_alone_waits_while_its_cause_is_open(owner: Any) -> None:
    database, api = _fleet(owner, 2)
    api.depends_on.add(database)
    RecoveryPolicy.objects.filter(owner=owner).update(component=api)  # only the API has a policy
    cause = _signal(database, kind="latency_spike", metric="latency_p95_ms")
    symptom = _signal(api, cause=cause)
    waiting = services.heal_signal(signal_id=symptom.pk)
    assert waiting is not None and waiting.outcome == "deferred"
    assert "waiting for its cause to be healed" in waiting.reason and not RecoveryAction.objects.exists()
    signal_resolve(actor=None, signal=cause, note="recovered by itself")
    decided = services.heal_signal(signal_id=symptom.pk, now=waiting.retry_at + timedelta(seconds=1))
    assert decided is not None and decided.outcome == "acted"
    assert decided.action is not None and "outlived its cause's recovery" in decided.action.reason


def test_fifty_components_failing_at_once_get_at_most_the_budget_and_one_page(owner: Any, settings: Any) -> None:
    settings.CORE314_BLAST_RADIUS_SHARE = 1.0  # the budget alone (the blast-radius guard is tested below)
    settings.CORE314_HEALING_MAX_PER_MINUTE_PER_USER = 5
    components = _fleet(owner, 50)
    Component.objects.update(status="critical")
    severities = ["high"] * 40 + ["critical"] * 10  # the critical ones come last, and are served first
    decisions = [
        services.heal_signal(signal_id=_signal(c, severity=v).pk) for c, v in zip(components, severities, strict=True)
    ]
    acted = RecoveryAction.objects.exclude(action_type="alert_escalation")
    assert acted.count() == 5
    queued = [d for d in decisions if d is not None and d.outcome == "deferred"]
    assert len(queued) == 45 and all("waiting for the healing budget" in d.reason for d in queued)
    pages = RecoveryAction.objects.filter(action_type="alert_escalation")
    assert pages.count() == 1 and "at most 5" in pages.get().reason
    # The queue is served most severe first as the budget frees up.
    waiting = [d.severity for d in services.healing_queue(owner_id=owner.pk)]
    assert waiting == ["critical"] * 10 + ["high"] * 35


def test_a_storm_past_the_blast_radius_only_observes_and_pages_once(owner: Any) -> None:
    components = _fleet(owner, 50)
    Component.objects.update(status="critical")
    for component in components:
        services.heal_signal(signal_id=_signal(component).pk)
    assert not RecoveryAction.objects.exclude(action_type="alert_escalation").exclude(mode="dry_run").exists()
    pages = RecoveryAction.objects.filter(action_type="alert_escalation")
    assert pages.count() == 1 and "50 of 50 components are failing" in pages.get().reason
    assert HealingDecision.objects.count() == 50
    assert AnomalySignal.objects.count() == 50 and timezone.now()
