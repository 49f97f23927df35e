"""What several steps of healing share: the actuator lookup, an action's context and "before" snapshot, planning
and storing an action, queueing its execution, and the crash-loop backoff.

Internal to ``recovery.services``: the steps (decide, execute, verify, supervise, the operator's actions) call
these; other apps call the services the package re-exports.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from anomalies.models import AnomalySignal, Severity
from anomalies.rules import BY_METRIC
from core314 import egress
from core314.changes import record_change
from health.models import Component, ComponentStatus, HealthStatus, SystemHealthEvent
from recovery.executors import ACTUATORS_FOR, executor_for
from recovery.models import (
    ActionMode,
    ActionStatus,
    ActionType,
    Actuator,
    ActuatorKind,
    Backoff,
    Deployment,
    RecoveryAction,
    RecoveryPolicy,
)

KEY_METRICS = ("latency_p95_ms", "error_rate", "availability", "throughput_rps", "cpu_percent", "memory_percent")
# Escalations tell people; they never occupy the component's in-flight slot and are not verified.
NOT_HEALING = {ActionType.ALERT_ESCALATION}


def actuator_for(component: Component, action_type: str) -> Actuator | None:
    """The component's enabled actuator that carries ``action_type``, in the executors' order of preference."""
    kinds = ACTUATORS_FOR.get(action_type, ())
    found = {a.kind: a for a in Actuator.objects.filter(component=component, enabled=True, kind__in=kinds)}
    return next((found[k] for k in kinds if k in found), None)


def last_good_version(component: Component, current: str) -> str:
    """The newest earlier deployment known to be healthy: marked so, or with healthy events while it ran."""
    deployments = list(Deployment.objects.filter(component=component).order_by("-deployed_at", "-id")[:20])
    for index, deployment in enumerate(deployments):
        if deployment.version == current or deployment.known_good is False:
            continue
        if deployment.known_good:
            return deployment.version
        until = deployments[index - 1].deployed_at if index > 0 else timezone.now()
        healthy = SystemHealthEvent.objects.filter(
            component=component,
            window_start__gte=deployment.deployed_at,
            window_end__lte=until,
            status=HealthStatus.HEALTHY,
        ).count()
        if healthy >= 3:
            return deployment.version
    return ""


def action_context(action: RecoveryAction, actuator: Actuator | None) -> dict[str, Any]:
    """What an executor is told about the action: the component, the signal, whom to page, the actuator."""
    # Imported here: escalation imports this module to create its alerts.
    from recovery.services.escalation import escalation_target_for

    component = action.component
    signal = action.signal
    base = settings.CORE314_PUBLIC_URL or ""
    context: dict[str, Any] = {
        "component": component.name,
        "component_id": component.pk,
        "component_slug": f"{component.pk}-{component.name}"[:60].replace("/", "_"),
        "signal_id": action.signal_id,
        "action_id": action.pk,
        "severity": signal.severity if signal else Severity.HIGH,
        "summary": (signal.explanation if signal else "") or action.reason,
        "link": f"{base}/recovery-manager/actions/{action.pk}/" if base else "",
        "target": escalation_target_for(component),
        # Whether the egress guard lets this component's connections reach loopback and the platform's own
        # services, and whether a whole cache database may be flushed: an administrator's component only.
        "privileged": egress.owner_privileged(component.owner),
    }
    if actuator is not None:
        context["actuator"] = {"kind": actuator.kind, "config": actuator.config, "state": actuator.state}
        if action.action_type == ActionType.ROLLBACK_DEPLOYMENT and actuator.kind == ActuatorKind.PROCESS:
            current = (actuator.state or {}).get("version") or actuator.config.get("version", "")
            context["rollback_to"] = last_good_version(component, current)
    return context


def metrics_snapshot(component: Component, signal: AnomalySignal | None) -> dict[str, Any]:
    """The component's key metrics over its last few windows (before an action, and after it)."""
    events = list(SystemHealthEvent.objects.filter(component=component).order_by("-window_start")[:3])
    snapshot: dict[str, Any] = {"status": component.status, "windows": len(events)}
    for metric in KEY_METRICS:
        values = [getattr(e, metric) for e in events if getattr(e, metric) is not None]
        snapshot[metric] = round(sum(values) / len(values), 6) if values else None
    if signal is not None and signal.metric in BY_METRIC:
        snapshot["signal_metric"] = signal.metric
        snapshot["signal_value"] = signal.observed_value
    return snapshot


def action_plan(
    action_type: str, parameters: dict[str, Any], component: Component, context_action: RecoveryAction
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cleaned parameters and the plan (no side effect); ParameterError names what is wrong."""
    actuator = actuator_for(component, action_type)
    executor = executor_for(action_type, actuator.kind if actuator else None)
    cleaned = executor.clean(parameters or {})
    plan = executor.plan(cleaned, action_context(context_action, actuator))
    return cleaned, plan.as_dict()


def action_create(
    *,
    component: Component,
    signal: AnomalySignal | None,
    policy: RecoveryPolicy | None,
    step: int,
    action_type: str,
    parameters: dict[str, Any],
    mode: str,
    reason: str,
    requested_by: Any = None,
    now: datetime,
    verify_after_s: int | None = None,
    chain_order: list[int] | None = None,
) -> RecoveryAction:
    """Plan and store an action (inside the caller's transaction, with the component locked)."""
    incident = signal.incident if signal is not None and signal.incident_id is not None else None
    action = RecoveryAction(
        owner_id=component.owner_id,
        component=component,
        signal=signal,
        incident=incident,
        episode=incident.episode if incident is not None else 1,
        policy=policy,
        step=step,
        chain_order=chain_order or [],
        action_type=action_type,
        parameters=parameters,
        mode=mode,
        reason=reason[:1000],
        requested_by=requested_by,
        created_at=now,
        verify_after_s=verify_after_s,
    )
    action.parameters, action.plan = action_plan(action_type, parameters, component, action)
    action.before_metrics = metrics_snapshot(component, signal)
    heals = action_type not in NOT_HEALING
    if mode == ActionMode.DRY_RUN:
        action.status = ActionStatus.SKIPPED
        action.finished_at = now
        action.result = {"ok": True, "summary": "dry run: plan recorded, nothing was done", "dry_run": True}
    elif mode == ActionMode.APPROVAL:
        action.status = ActionStatus.PENDING_APPROVAL
        action.approval_expires_at = now + timedelta(seconds=settings.CORE314_APPROVAL_TTL)
        action.in_flight = heals
    else:
        action.status = ActionStatus.APPROVED
        action.in_flight = heals
    action.save()
    record_change(
        actor=requested_by,
        system_label="healer",
        action="recovery.create",
        target=action,
        after={"type": action_type, "mode": mode, "status": action.status, "step": step, "plan": action.plan},
        reason=reason,
        event="recovery.created",
        data={"status": action.status},
    )
    if action.status == ActionStatus.APPROVED:
        execution_enqueue(action.pk)
    return action


def execution_enqueue(action_id: int) -> None:
    """Queue the action's execution once the transaction commits (at once outside one)."""
    # Imported here: the tasks module imports the services.
    from recovery.tasks import execute

    transaction.on_commit(lambda: execute.delay(action_id))


def backoff_for(component: Component, action_type: str, now: datetime) -> Backoff:
    """The locked backoff row of (component, action), reset once the component has been healthy a while."""
    backoff, _ = Backoff.objects.select_for_update().get_or_create(
        component=component, action_type=action_type, defaults={"owner_id": component.owner_id}
    )
    healthy_for = (now - component.status_changed_at).total_seconds() if component.status_changed_at else 0
    if (
        backoff.attempts
        and component.status == ComponentStatus.HEALTHY
        and healthy_for >= settings.CORE314_BACKOFF_RESET
    ):
        # Healthy for a while: the crash loop is over, start again from the first wait.
        backoff.attempts = 0
        backoff.next_allowed_at = None
        backoff.save()
    return backoff
