"""The fire drill: the whole loop on a dedicated component, against the live worker and beat.

Stages, each timed: inject a fault as health events → the detector opens a signal → the engine records a
dry-run action chosen by the drill's policy (dry run: nothing is touched) → recovery events → the signal
resolves. The drill component is tagged ``firedrill`` (the blast-radius guard ignores it) and owned by the
platform's administrator; its policy is dry-run only.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

from django.utils import timezone

from selftest.registry import Outcome

DRILL_NAME = "core314-firedrill"
DRILL_TAG = "firedrill"
POLICY_NAME = "Fire drill (dry run only)"


def platform_owner() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(is_superuser=True, is_active=True).order_by("pk").first()


def drill_component(owner: Any) -> Any:
    from anomalies.services import detection_settings_update
    from health.models import Component
    from health.services import component_create
    from recovery.models import RecoveryPolicy
    from recovery.services import policy_save

    component = Component.objects.filter(owner=owner, name=DRILL_NAME).first()
    if component is None:
        component = component_create(
            actor=None, owner=owner, name=DRILL_NAME, description="Self-test fire drill (synthetic events only)",
            tags=[DRILL_TAG], is_platform=False,
        )  # fmt: skip
        detection_settings_update(actor=None, component=component, resolve_after_s=1)
    if not RecoveryPolicy.objects.filter(owner=owner, name=POLICY_NAME).exists():
        policy_save(
            actor=None, owner=owner, name=POLICY_NAME, priority=0, component=component, kinds=[],
            min_severity="low", action_type="circuit_breaker", parameters={"cooldown_s": 30}, mode="dry_run",
            chain=[], verify_after_s=5,
        )  # fmt: skip
    return component


def _events(component: Any, start: Any, count: int, rng: random.Random, *, error_rate: float) -> list[dict[str, Any]]:
    return [
        {
            "component": component.pk,
            "window_start": (start + timedelta(seconds=i)).isoformat(),
            "window_end": (start + timedelta(seconds=i + 1)).isoformat(),
            "error_rate": max(0.0, min(1.0, error_rate + rng.gauss(0, 0.002))),
            "latency_p95_ms": 50 + rng.gauss(0, 3),
            "request_count": 100,
        }
        for i in range(count)
    ]


def _wait(predicate: Any, deadline: float) -> Any:
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    return None


def run_drill(budget_s: float = 45.0) -> Outcome:
    from anomalies.models import AnomalySignal
    from health.models import SystemHealthEvent
    from health.services import health_events_ingest
    from recovery.models import RecoveryAction

    owner = platform_owner()
    if owner is None:
        return Outcome("skipped", 0.0, "no administrator exists to own the drill component")
    component = drill_component(owner)
    rng = random.Random()  # noqa: S311 -- synthetic data, not security
    deadline = time.monotonic() + budget_s
    stages: dict[str, Any] = {}

    # Windows of one second, after anything the drill component has seen, ending before now.
    now = timezone.now()
    last = SystemHealthEvent.objects.filter(component=component).order_by("-window_end").first()
    start = max(now - timedelta(seconds=50), last.window_end if last else now - timedelta(seconds=50))
    baseline = _events(component, start, 40, rng, error_rate=0.0)
    fault = _events(component, start + timedelta(seconds=40), 3, rng, error_rate=0.5)
    injected = time.monotonic()
    opened_after = timezone.now()
    health_events_ingest(actor=owner, items=baseline + fault, now=start + timedelta(seconds=44))

    signal = _wait(
        lambda: AnomalySignal.objects.filter(component=component, created_at__gte=opened_after).first(), deadline
    )
    if signal is None:
        return _failed("no anomaly signal opened: is a worker running detection?", stages)
    stages["fault_to_signal_ms"] = round((time.monotonic() - injected) * 1000, 1)

    action = _wait(lambda: RecoveryAction.objects.filter(signal=signal).first(), deadline)
    if action is None:
        return _failed("no recovery action was decided for the drill's signal", stages)
    stages["signal_to_action_ms"] = round((time.monotonic() - injected) * 1000 - stages["fault_to_signal_ms"], 1)
    if action.mode != "dry_run" or action.status != "skipped":
        return _failed(f"the drill's action was {action.mode}/{action.status}, expected a dry run", stages)

    recovering = time.monotonic()
    calm = timezone.now() - timedelta(seconds=4)
    calm = max(calm, start + timedelta(seconds=43))
    health_events_ingest(actor=owner, items=_events(component, calm, 3, rng, error_rate=0.0))
    resolved = _wait(lambda: AnomalySignal.objects.filter(pk=signal.pk, status="resolved").first(), deadline)
    if resolved is None:
        return _failed("the drill's signal did not resolve after recovery events", stages)
    stages["recovery_to_resolved_ms"] = round((time.monotonic() - recovering) * 1000, 1)
    stages["total_ms"] = round((time.monotonic() - injected) * 1000, 1)
    score = max(0.0, min(100.0, 100.0 * (1 - stages["total_ms"] / 1000 / budget_s) + 50))
    message = (
        f"fault → signal {stages['fault_to_signal_ms']:.0f} ms, → dry-run action "
        f"{stages['signal_to_action_ms']:.0f} ms, recovery → resolved {stages['recovery_to_resolved_ms']:.0f} ms"
    )
    return Outcome("pass", round(score, 1), message, {**stages, "signal_id": signal.pk, "action_id": action.pk})


def _failed(message: str, stages: dict[str, Any]) -> Outcome:
    return Outcome("fail", 0.0, message, dict(stages))
