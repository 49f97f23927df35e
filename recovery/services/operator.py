"""What people do: approve, reject or cancel an action, ask for one by hand (or only for its plan), and pause
or resume automatic healing. An approval nobody decides in time expires here too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from anomalies.models import AnomalySignal, SignalStatus
from anomalies.services import incident_new_episode
from core314.changes import record_change
from core314.services import ConflictError, DomainError, PermissionDeniedError
from core314.tenancy import Actor, acting_user, effective_owner, is_admin, is_service_account
from health.models import Component
from recovery.executors import ParameterError
from recovery.models import ActionMode, ActionStatus, ActionType, HealingSwitch, RecoveryAction
from recovery.services.actions import NOT_HEALING, action_create, action_plan, execution_enqueue
from recovery.services.escalation import escalate


def _locked_action(action: RecoveryAction) -> RecoveryAction:
    return (
        RecoveryAction.objects.select_for_update(of=("self",)).select_related("component", "signal").get(pk=action.pk)
    )


def _record_status(
    action: RecoveryAction, *, actor: Actor, verb: str, before: str, reason: str, system_label: str | None = None
) -> None:
    """Audit ``recovery.<verb>`` (the status before and after); after commit, announce the new status."""
    record_change(
        actor=actor,
        system_label=system_label,
        action=f"recovery.{verb}",
        target=action,
        before={"status": before},
        after={"status": action.status},
        reason=reason,
        event=f"recovery.{action.status}",
        data={"status": action.status},
    )


def approval_expire(action_id: int, now: datetime) -> int:
    """End an action still pending approval past its deadline, and escalate; 1 if it expired it, else 0."""
    with transaction.atomic():
        action = (
            RecoveryAction.objects.select_for_update()
            .filter(pk=action_id, status=ActionStatus.PENDING_APPROVAL)
            .first()
        )
        if action is None:
            return 0
        action.status = ActionStatus.EXPIRED
        action.in_flight = False
        action.finished_at = now
        action.save()
        _record_status(
            action,
            actor=None,
            system_label="healer",
            verb="expire",
            before=ActionStatus.PENDING_APPROVAL,
            reason="nobody approved or rejected it in time",
        )
        component = Component.objects.get(pk=action.component_id)
        escalate(component, action.signal, f"approval of action #{action.pk} expired: nobody decided", now)
        return 1


@transaction.atomic
def action_approve(*, actor: Actor, action: RecoveryAction, reason: str = "") -> RecoveryAction:
    """A person says yes to an action waiting for approval. A robot never does: a service account's token
    could otherwise approve what its own automation asked for."""
    if is_service_account(actor):
        raise PermissionDeniedError("Approval is a person's act: a service account cannot approve an action.")
    now = timezone.now()
    action = _locked_action(action)
    if action.status != ActionStatus.PENDING_APPROVAL:
        raise ConflictError(f"Only an action pending approval can be approved; this one is {action.status}.")
    if action.approval_expires_at and action.approval_expires_at <= now:
        approval_expire(action.pk, now)
        raise ConflictError("This approval has expired; the action will not run.")
    action.status = ActionStatus.APPROVED
    action.decided_by = acting_user(actor)
    action.decided_at = now
    action.save()
    _record_status(action, actor=actor, verb="approve", before=ActionStatus.PENDING_APPROVAL, reason=reason)
    execution_enqueue(action.pk)
    return action


@transaction.atomic
def action_reject(*, actor: Actor, action: RecoveryAction, reason: str) -> RecoveryAction:
    if not reason.strip():
        raise DomainError("Say why the action is rejected (a reason is required).")
    action = _locked_action(action)
    if action.status != ActionStatus.PENDING_APPROVAL:
        raise ConflictError(f"Only an action pending approval can be rejected; this one is {action.status}.")
    action.status = ActionStatus.REJECTED
    action.in_flight = False
    action.decided_by = acting_user(actor)
    action.decided_at = action.finished_at = timezone.now()
    action.error = f"rejected: {reason.strip()}"[:2000]
    action.save()
    _record_status(action, actor=actor, verb="reject", before=ActionStatus.PENDING_APPROVAL, reason=reason)
    return action


@transaction.atomic
def action_cancel(*, actor: Actor, action: RecoveryAction, reason: str = "") -> RecoveryAction:
    action = _locked_action(action)
    if action.status not in (ActionStatus.PENDING_APPROVAL, ActionStatus.APPROVED):
        raise ConflictError(f"Only a pending or approved action can be cancelled; this one is {action.status}.")
    before = action.status
    action.status = ActionStatus.CANCELLED
    action.in_flight = False
    action.finished_at = timezone.now()
    action.save()
    _record_status(action, actor=actor, verb="cancel", before=before, reason=reason)
    return action


def action_dry_run(*, actor: Actor, component: Component, action_type: str, parameters: Any) -> dict[str, Any]:
    """The plan of an action, with no side effect and nothing stored."""
    if action_type not in ActionType.values:
        raise DomainError(f"Unknown action type {action_type!r}.")
    if not isinstance(parameters, dict):
        raise DomainError("parameters must be a JSON object.")
    probe = RecoveryAction(owner_id=component.owner_id, component=component, action_type=action_type)
    try:
        cleaned, plan = action_plan(action_type, parameters, component, probe)
    except ParameterError as exc:
        raise DomainError(str(exc)) from exc
    return {"action_type": action_type, "parameters": cleaned, "plan": plan}


@transaction.atomic
def action_create_manual(
    *,
    actor: Actor,
    component: Component,
    action_type: str,
    parameters: Any,
    reason: str,
    dry_run: bool = False,
    signal: AnomalySignal | None = None,
) -> RecoveryAction:
    """An action asked for by a person: dry run (plan recorded) or run now (the requester approves it)."""
    if action_type not in ActionType.values:
        raise DomainError(f"Unknown action type {action_type!r}.")
    if not isinstance(parameters, dict):
        raise DomainError("parameters must be a JSON object.")
    if not reason.strip():
        raise DomainError("Say why (a reason is required).")
    if signal is not None and signal.component_id != component.pk:
        raise DomainError("The signal belongs to another component.")
    now = timezone.now()
    component = Component.objects.select_for_update().get(pk=component.pk)
    if not dry_run and action_type not in NOT_HEALING:
        busy = RecoveryAction.objects.filter(component=component, in_flight=True).first()
        if busy is not None:
            raise ConflictError(f"Action #{busy.pk} is in flight on {component.name}; wait for it or cancel it.")
    try:
        action = action_create(
            component=component,
            signal=signal,
            policy=None,
            step=0,
            action_type=action_type,
            parameters=parameters,
            mode=ActionMode.DRY_RUN if dry_run else ActionMode.AUTOMATIC,
            reason=f"manual: {reason.strip()}",
            requested_by=actor,
            now=now,
        )
    except ParameterError as exc:
        raise DomainError(str(exc)) from exc
    if not dry_run:
        action.decided_by = acting_user(actor)
        action.decided_at = now
        action.save(update_fields=["decided_by", "decided_at"])
    return action


@transaction.atomic
def healing_pause_set(*, actor: Actor, paused: bool, reason: str = "", everyone: bool = False) -> HealingSwitch:
    """Pause or resume automatic healing for the actor's components, or (administrators) for everyone."""
    if everyone and not is_admin(actor):
        raise PermissionDeniedError("Only administrators pause healing for everyone.")
    user = None if everyone else effective_owner(actor)
    switch = HealingSwitch.objects.select_for_update().filter(user=user, is_global=everyone).first()
    switch = switch or HealingSwitch(user=user, is_global=everyone)
    before = switch.paused
    switch.paused = paused
    switch.reason = reason[:300]
    switch.changed_by = acting_user(actor)
    switch.changed_at = timezone.now()
    switch.save()
    record_change(
        actor=actor,
        action="healing.pause" if paused else "healing.resume",
        target=None,
        owner=user,
        before={"paused": before},
        after={"paused": paused, "everyone": everyone},
        reason=reason,
    )
    if before and not paused:
        _redecide_after_pause(owner=user, now=switch.changed_at)
    return switch


def _redecide_after_pause(*, owner: Any, now: datetime) -> None:
    """Healing resumed: open incidents whose episode was only planned (a dry run) because of the pause are
    decided again, now for real (a new episode of each)."""
    observed = RecoveryAction.objects.filter(
        incident__isnull=False, incident__episode=F("episode"), mode=ActionMode.DRY_RUN, reason__contains="paused"
    ).exclude(incident__status=SignalStatus.RESOLVED)
    if owner is not None:
        observed = observed.filter(owner=owner)
    for action in observed.select_related("incident", "signal")[:500]:
        if action.incident is not None and action.signal is not None:
            incident_new_episode(incident=action.incident, signal=action.signal, why="healing resumed", now=now)
