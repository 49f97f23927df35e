"""Executing: an approved action runs exactly once.

It is claimed (approved → running) in its own committed transaction before it executes: a redelivered task
finds it running and never executes it again; if its worker died, it ends as failed (outcome unknown). The
result is recorded with the backoff for the next attempt and the time its verification is due.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

import psutil
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core314.changes import record_change
from health.models import Component
from recovery.executors import executor_for
from recovery.executors.base import Result
from recovery.models import ActionStatus, Actuator, Deployment, RecoveryAction
from recovery.services.actions import NOT_HEALING, action_context, actuator_for, backoff_for
from recovery.services.escalation import escalate
from recovery.services.learning import demotion_review
from recovery.services.scalein import scale_record
from recovery.services.verify import verify_window

logger = logging.getLogger(__name__)


def _me() -> str:
    process = psutil.Process()
    return f"{socket.gethostname()}:{os.getpid()}:{process.create_time():.2f}"


def _claimer_dead(claimed_by: str) -> bool:
    """True when the claim was made on this host by a process that no longer exists."""
    try:
        host, pid, started = claimed_by.rsplit(":", 2)
        if host != socket.gethostname():
            return False
        return abs(psutil.Process(int(pid)).create_time() - float(started)) > 0.01
    except psutil.NoSuchProcess:
        return True
    except (ValueError, psutil.Error):
        return False


def action_execute(*, action_id: int, now: datetime | None = None) -> RecoveryAction | None:
    """Run an approved action exactly once: claim it in a committed transaction, execute, record the result."""
    now = now or timezone.now()
    with transaction.atomic():
        action = (
            RecoveryAction.objects.select_for_update(of=("self",))
            .select_related("component", "signal")
            .filter(pk=action_id)
            .first()
        )
        if action is None:
            return None
        if action.status == ActionStatus.RUNNING:
            # A redelivered task: the first delivery claimed it. Never run it again.
            if (action.lease_until and action.lease_until <= now) or _claimer_dead(action.claimed_by):
                _fail_unknown(action, now)
            return action
        if action.status != ActionStatus.APPROVED:
            return action
        action.status = ActionStatus.RUNNING
        action.started_at = now
        action.lease_until = now + timedelta(seconds=settings.CORE314_ACTION_TIMEOUT + 30)
        action.claimed_by = _me()
        action.save()
        record_change(
            actor=None,
            system_label="healer",
            action="recovery.start",
            target=action,
            after={"pid": os.getpid()},
            event="recovery.running",
            data={"status": action.status},
        )
    actuator = actuator_for(action.component, action.action_type)
    try:
        executor = executor_for(action.action_type, actuator.kind if actuator else None)
        result = executor.execute(
            action.parameters, action_context(action, actuator), timeout_s=float(settings.CORE314_ACTION_TIMEOUT)
        )
    except Exception as exc:  # an executor's fault ends this action, never the loop
        logger.exception("recovery action %s failed", action_id)
        result = Result(False, f"{type(exc).__name__}: {exc}"[:500])
    return _finish(action_id, result, actuator)


def _finish(action_id: int, result: Result, actuator: Actuator | None) -> RecoveryAction:
    now = timezone.now()
    with transaction.atomic():
        action = (
            RecoveryAction.objects.select_for_update(of=("self",))
            .select_related("component", "signal", "policy")
            .get(pk=action_id)
        )
        if action.status != ActionStatus.RUNNING or action.claimed_by != _me():
            # Declared lost meanwhile (failed, outcome unknown): keep that, but record what actually happened.
            record_change(
                actor=None,
                system_label="healer",
                action="recovery.late_result",
                target=action,
                after=result.as_dict(),
                reason="the result arrived after the action was declared lost",
            )
            return action
        details = dict(result.details)
        new_state = details.pop("state", None)
        if actuator is not None and new_state is not None:
            # The actuator before the component: the supervisor job locks them in that order, and the
            # opposite order here deadlocked when both ran at once.
            _store_state(actuator, new_state, action, now)
        component = Component.objects.select_for_update().get(pk=action.component_id)
        action.result = {**result.as_dict(), "details": details}
        action.finished_at = now
        action.status = ActionStatus.SUCCEEDED if result.ok else ActionStatus.FAILED
        if not result.ok:
            action.error = result.summary[:2000]
        heals = action.action_type not in NOT_HEALING
        if result.ok and heals:
            action.verify_at = now + verify_window(action)
        else:
            action.in_flight = False
        if heals:
            _attempted(component, action, now)
        action.save()
        if result.ok:
            scale_record(action, details, now)
        record_change(
            actor=None,
            system_label="healer",
            action=f"recovery.{action.status}",
            target=action,
            after={"summary": result.summary, "duration_ms": round(result.duration_ms, 1)},
            event="recovery.finished",
            data={"status": action.status},
        )
        if not result.ok and heals:
            demotion_review(action, now)
            escalate(component, action.signal, f"{action.get_action_type_display()} failed: {result.summary}", now)
        return action


def _store_state(actuator: Actuator, state: dict[str, Any], action: RecoveryAction, now: datetime) -> None:
    actuator = Actuator.objects.select_for_update().get(pk=actuator.pk)
    before = (actuator.state or {}).get("version")
    actuator.state = state
    actuator.save(update_fields=["state", "updated_at"])
    if state.get("version") and state["version"] != before:
        spec = actuator.config.get("versions", {}).get(state["version"], {})
        Deployment.objects.create(
            owner_id=actuator.owner_id,
            component_id=actuator.component_id,
            version=state["version"],
            spec=spec,
            deployed_at=now,
            deployed_by=f"recovery action #{action.pk}",
        )


def _attempted(component: Component, action: RecoveryAction, now: datetime) -> None:
    """The next run of this action on this component waits: the base cooldown, doubled per failed attempt."""
    backoff = backoff_for(component, action.action_type, now)
    base = action.policy.cooldown_s if action.policy else settings.CORE314_DEFAULT_COOLDOWN
    cap = action.policy.max_cooldown_s if action.policy else base * 32
    if action.status == ActionStatus.FAILED:
        backoff.attempts += 1
    wait = min(base * 2 ** min(backoff.attempts, 20), cap)
    backoff.last_attempt_at = now
    backoff.next_allowed_at = now + timedelta(seconds=wait)
    backoff.save()


def _fail_unknown(action: RecoveryAction, now: datetime) -> None:
    action.status = ActionStatus.FAILED
    action.in_flight = False
    action.finished_at = now
    action.error = (
        "the worker running this action stopped before recording a result: the outcome is unknown, "
        "and it is not run again"
    )
    action.result = {"ok": False, "summary": "outcome unknown", "details": {"claimed_by": action.claimed_by}}
    action.save()
    record_change(
        actor=None,
        system_label="healer",
        action="recovery.failed_unknown",
        target=action,
        after={"claimed_by": action.claimed_by},
        reason=action.error,
        event="recovery.finished",
        data={"status": action.status},
    )
    component = Component.objects.get(pk=action.component_id)
    escalate(component, action.signal, f"action #{action.pk} was lost mid-way: {action.error}", now)
