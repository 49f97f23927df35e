"""Supervising local processes: a replica that exited is restarted through the engine, as a healing action."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from health.models import Component
from recovery import supervisor
from recovery.models import ActionMode, ActionType, Actuator, ActuatorKind, RecoveryAction
from recovery.services.actions import action_create, backoff_for

SUPERVISED_VERIFY_S = 10


def supervise_processes(*, now: datetime | None = None) -> int:
    """Replicas of supervised processes that exited are restarted at once, as systemd's Restart=always
    would, but through the engine: one action in flight, crash-loop backoff, audit, verification, and an
    escalation when restarts do not help. Returns how many restarts were started."""
    now = now or timezone.now()
    started = 0
    for actuator_id in Actuator.objects.filter(kind=ActuatorKind.PROCESS, enabled=True).values_list("pk", flat=True):
        with transaction.atomic():
            # Skip an actuator someone is changing (a deploy, a scale): its state is about to be rewritten.
            actuator = Actuator.objects.select_for_update(skip_locked=True).filter(pk=actuator_id).first()
            if actuator is None:
                continue
            state = actuator.state or {}
            wanted = state.get("desired", 0)
            if not wanted or not state.get("replicas"):
                continue
            gone = [e for e in state["replicas"] if not supervisor.alive(e)]
            if not gone:
                continue
            component = Component.objects.select_for_update().get(pk=actuator.component_id)
            if RecoveryAction.objects.filter(component=component, in_flight=True).exists():
                continue
            backoff = backoff_for(component, ActionType.RESTART_FUNCTION, now)
            if backoff.next_allowed_at and backoff.next_allowed_at > now:
                continue
            exited = ", ".join(f"replica {e['replica']} (pid {e['pid']})" for e in gone)
            action_create(
                component=component,
                signal=None,
                policy=None,
                step=0,
                action_type=ActionType.RESTART_FUNCTION,
                parameters={},
                mode=ActionMode.AUTOMATIC,
                reason=f"supervisor: {exited} exited",
                now=now,
                verify_after_s=SUPERVISED_VERIFY_S,
            )
            started += 1
    return started
