"""The healing engine: decide for a signal, run the action once, judge it, continue the chain or escalate.

Every safety rule is held by the database, so it holds across worker processes and restarts:

* one action in flight per component (a partial unique index on ``in_flight``; decisions for a component are
  serialised by locking its row);
* cooldowns with exponential backoff per (component, action) in ``Backoff``, and hourly caps counted from
  ``recovery_actions``; past a cap, a loud escalation;
* a global and per-user pause, and a blast-radius guard, both turn automatic actions into dry runs and escalate;
* an action is claimed (approved → running) in its own committed transaction before it executes: a redelivered
  task finds it running and never executes it again; if its worker died, it ends as failed (outcome unknown).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

import psutil
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from anomalies.models import AnomalySignal, SignalStatus
from anomalies.rules import BY_METRIC, SEVERITY_ORDER
from core314.audit import audit_record
from core314.live import publish_on_commit
from core314.services import ConflictError, DomainError, PermissionDeniedError
from core314.tenancy import Actor, is_admin
from health.models import Component, ComponentStatus, SystemHealthEvent
from recovery.effectiveness import judge
from recovery.executors import ACTUATORS_FOR, ParameterError, executor_for
from recovery.executors.base import Result
from recovery.models import (
    ActionMode,
    ActionStatus,
    ActionType,
    Actuator,
    Backoff,
    DecisionOutcome,
    Deployment,
    HealingDecision,
    HealingSwitch,
    RecoveryAction,
    RecoveryPolicy,
)

logger = logging.getLogger(__name__)

KEY_METRICS = ("latency_p95_ms", "error_rate", "availability", "throughput_rps", "cpu_percent", "memory_percent")
FAILING = (ComponentStatus.UNHEALTHY, ComponentStatus.CRITICAL)
# Escalations tell people; they never occupy the component's in-flight slot and are not verified.
NOT_HEALING = {ActionType.ALERT_ESCALATION}
ESCALATION_QUIET = timedelta(minutes=10)


# --- Reading the rules -------------------------------------------------------------------------------------


def healing_paused(owner_id: int) -> str:
    """Why automatic healing is paused for ``owner_id``'s components ("" when it is not)."""
    for switch in HealingSwitch.objects.filter(Q(user__isnull=True) | Q(user_id=owner_id), paused=True):
        who = "for everyone" if switch.user_id is None else "for this user"
        return f"automatic healing is paused {who}" + (f": {switch.reason}" if switch.reason else "")
    return ""


def blast_radius(component: Component) -> str:
    """Why automatic actions should only observe ("" when they may act).

    When many of a user's components fail at once, or the platform's own parts are failing, the likely fault
    is shared (network, database) or in the monitor itself: restarting services one by one would not help.
    """
    if not component.is_platform:
        platform = Component.objects.filter(is_platform=True, status__in=FAILING).values_list("name", flat=True)
        names = sorted(set(platform))
        if names:
            return f"the platform itself is failing ({', '.join(names)}): observing only"
    # The fire drill's component fails on purpose, every few minutes: it is nobody's peer.
    peers = Component.objects.filter(owner_id=component.owner_id, is_platform=False).exclude(
        tags__contains=["firedrill"]
    )
    total = peers.count()
    failing = peers.filter(status__in=FAILING).count()
    share = settings.CORE314_BLAST_RADIUS_SHARE
    if failing >= settings.CORE314_BLAST_RADIUS_MIN and total and failing / total > share:
        return f"{failing} of {total} components are failing at once (over {share:.0%}): observing only"
    return ""


def policy_for(signal: AnomalySignal, component: Component) -> RecoveryPolicy | None:
    rank = SEVERITY_ORDER.index(signal.severity)
    for policy in RecoveryPolicy.objects.filter(owner_id=component.owner_id, enabled=True).order_by("priority", "id"):
        if policy.kinds and signal.kind not in policy.kinds:
            continue
        if policy.metrics and signal.metric not in policy.metrics:
            continue
        if SEVERITY_ORDER.index(policy.min_severity) > rank:
            continue
        if policy.component_id and policy.component_id != component.pk:
            continue
        if policy.component_type and policy.component_type != component.type:
            continue
        if policy.tag and policy.tag not in (component.tags or []):
            continue
        return policy
    return None


def _actuator(component: Component, action_type: str) -> Actuator | None:
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
            component=component, window_start__gte=deployment.deployed_at, window_end__lte=until, status="healthy"
        ).count()
        if healthy >= 3:
            return deployment.version
    return ""


def _context(action: RecoveryAction, actuator: Actuator | None) -> dict[str, Any]:
    from recovery.services import escalation_target_for

    component = action.component
    signal = action.signal
    base = settings.CORE314_PUBLIC_URL or ""
    context: dict[str, Any] = {
        "component": component.name,
        "component_id": component.pk,
        "component_slug": f"{component.pk}-{component.name}"[:60].replace("/", "_"),
        "signal_id": action.signal_id,
        "action_id": action.pk,
        "severity": signal.severity if signal else "high",
        "summary": (signal.explanation if signal else "") or action.reason,
        "link": f"{base}/recovery-manager/actions/{action.pk}/" if base else "",
        "target": escalation_target_for(component),
    }
    if actuator is not None:
        context["actuator"] = {"kind": actuator.kind, "config": actuator.config, "state": actuator.state}
        if action.action_type == ActionType.ROLLBACK_DEPLOYMENT and actuator.kind == "process":
            current = (actuator.state or {}).get("version") or actuator.config.get("version", "")
            context["rollback_to"] = last_good_version(component, current)
    return context


def _snapshot(component: Component, signal: AnomalySignal | None) -> dict[str, Any]:
    """The component's key metrics over its last few windows, before an action."""
    events = list(SystemHealthEvent.objects.filter(component=component).order_by("-window_start")[:3])
    snapshot: dict[str, Any] = {"status": component.status, "windows": len(events)}
    for metric in KEY_METRICS:
        values = [getattr(e, metric) for e in events if getattr(e, metric) is not None]
        snapshot[metric] = round(sum(values) / len(values), 6) if values else None
    if signal is not None and signal.metric in BY_METRIC:
        snapshot["signal_metric"] = signal.metric
        snapshot["signal_value"] = signal.observed_value
    return snapshot


# --- Creating actions --------------------------------------------------------------------------------------


def _plan(action_type: str, parameters: dict[str, Any], component: Component, context_action: RecoveryAction):
    actuator = _actuator(component, action_type)
    executor = executor_for(action_type, actuator.kind if actuator else None)
    cleaned = executor.clean(parameters or {})
    plan = executor.plan(cleaned, _context(context_action, actuator))
    return cleaned, plan.as_dict()


def _create(
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
) -> RecoveryAction:
    """Plan and store an action (inside the caller's transaction, with the component locked)."""
    action = RecoveryAction(
        owner_id=component.owner_id,
        component=component,
        signal=signal,
        policy=policy,
        step=step,
        action_type=action_type,
        parameters=parameters,
        mode=mode,
        reason=reason[:1000],
        requested_by=requested_by,
        created_at=now,
        verify_after_s=verify_after_s,
    )
    action.parameters, action.plan = _plan(action_type, parameters, component, action)
    action.before_metrics = _snapshot(component, signal)
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
    audit_record(
        actor=requested_by,
        system_label="healer",
        action="recovery.create",
        target=action,
        after={"type": action_type, "mode": mode, "status": action.status, "step": step, "plan": action.plan},
        reason=reason,
    )
    publish_on_commit(row=action, event="recovery.created", data={"status": action.status})
    if action.status == ActionStatus.APPROVED:
        _enqueue(action.pk)
    return action


def _enqueue(action_id: int) -> None:
    from recovery.tasks import execute

    transaction.on_commit(lambda: execute.delay(action_id))


def _escalate(
    component: Component, signal: AnomalySignal | None, reason: str, now: datetime, policy: RecoveryPolicy | None = None
) -> RecoveryAction | None:
    """Tell people (automatic, whatever the policy's mode: it changes nothing), once per signal and reason,
    and not again for the same reason on the same component within ESCALATION_QUIET: a burst of signals
    pages once."""
    sent = RecoveryAction.objects.filter(component=component, action_type=ActionType.ALERT_ESCALATION)
    same = Q(reason=reason[:1000], created_at__gte=now - ESCALATION_QUIET)
    if signal is not None:
        same |= Q(signal=signal, reason=reason[:1000])
    if sent.filter(same).exists():
        return None
    return _create(
        component=component,
        signal=signal,
        policy=policy,
        step=0,
        action_type=ActionType.ALERT_ESCALATION,
        parameters={"note": reason[:1000]},
        mode=ActionMode.AUTOMATIC,
        reason=reason,
        now=now,
    )


def _backoff(component: Component, action_type: str, now: datetime) -> Backoff:
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


def _runs_this_hour(component: Component, policy: RecoveryPolicy, now: datetime) -> int:
    return (
        RecoveryAction.objects.filter(component=component, policy=policy, created_at__gte=now - timedelta(hours=1))
        .exclude(action_type=ActionType.ALERT_ESCALATION)
        .exclude(status__in=[ActionStatus.SKIPPED, ActionStatus.REJECTED, ActionStatus.EXPIRED, ActionStatus.CANCELLED])
        .count()
    )


def _step_action(
    component: Component,
    signal: AnomalySignal,
    policy: RecoveryPolicy,
    start: int,
    now: datetime,
    why: str,
) -> tuple[str, str, RecoveryAction | None, datetime | None]:
    """Create the action for the first step from ``start`` this component can carry, within the limits.

    Returns (outcome, reason, action, retry_at).
    """
    steps = policy.steps()
    passed: list[str] = []  # steps that cannot run here, and why
    for index in range(start, len(steps)):
        step = steps[index]
        action_type = step.get("action_type", "")
        if action_type == ActionType.ALERT_ESCALATION:
            action = _escalate(component, signal, f"{why}; policy {policy.name!r} escalates", now, policy)
            return DecisionOutcome.ACTED, "escalated as the policy says", action, None
        if ACTUATORS_FOR.get(action_type) and _actuator(component, action_type) is None:
            continue  # this component cannot be acted on that way: try the next step
        backoff = _backoff(component, action_type, now)
        if backoff.next_allowed_at and backoff.next_allowed_at > now:
            reason = f"{action_type} is cooling down until {backoff.next_allowed_at:%H:%M:%S} UTC"
            return DecisionOutcome.DEFERRED, reason, None, backoff.next_allowed_at
        if _runs_this_hour(component, policy, now) >= policy.max_per_hour:
            reason = f"policy {policy.name!r} reached {policy.max_per_hour} runs this hour on {component.name}"
            action = _escalate(component, signal, f"{why}; {reason}", now, policy)
            return DecisionOutcome.ACTED, f"{reason}: escalated", action, None
        mode = step.get("mode") or policy.mode
        observe = healing_paused(component.owner_id) or blast_radius(component)
        if observe and mode == ActionMode.AUTOMATIC:
            mode = ActionMode.DRY_RUN
        try:
            action = _create(
                component=component,
                signal=signal,
                policy=policy,
                step=index,
                action_type=action_type,
                parameters=step.get("parameters") or {},
                mode=mode,
                reason=f"{why}; {observe}" if observe else why,
                now=now,
            )
        except (ParameterError, OSError) as exc:
            passed.append(f"{action_type} cannot run ({exc})")
            continue  # e.g. no earlier version to roll back to: the next step may still help
        if observe:
            _escalate(component, signal, f"{why}; {observe}", now, policy)
        return DecisionOutcome.ACTED, f"{action.get_action_type_display()} ({action.get_mode_display()})", action, None
    skipped = f" ({'; '.join(passed)})" if passed else ""
    action = _escalate(component, signal, f"{why}; nothing left to try in policy {policy.name!r}{skipped}", now, policy)
    return DecisionOutcome.ACTED, f"no step of the policy can run here{skipped}: escalated", action, None


# --- Deciding ----------------------------------------------------------------------------------------------


def heal_signal(*, signal_id: int, now: datetime | None = None) -> HealingDecision | None:
    """Decide what to do about an opened or escalated signal; at most one decision per signal and severity."""
    now = now or timezone.now()
    with transaction.atomic():
        signal = AnomalySignal.objects.filter(pk=signal_id).first()
        if signal is None:
            return None
        # Decisions about one component wait for each other, across every worker process.
        component = Component.objects.select_for_update().get(pk=signal.component_id)
        signal.refresh_from_db()
        decision = HealingDecision.objects.filter(signal=signal, severity=signal.severity).first()
        if decision is not None and (
            decision.outcome != DecisionOutcome.DEFERRED or (decision.retry_at and decision.retry_at > now)
        ):
            return decision
        outcome, reason, action, retry_at = _decide(signal, component, now)
        if decision is None:
            decision = HealingDecision(
                owner_id=component.owner_id, signal=signal, component=component, severity=signal.severity
            )
        decision.outcome, decision.reason, decision.action, decision.retry_at = outcome, reason[:300], action, retry_at
        decision.save()
        audit_record(
            actor=None,
            system_label="healer",
            action=f"healing.{outcome}",
            target=signal,
            after={"severity": signal.severity, "action": action.pk if action else None, "retry_at": str(retry_at)},
            reason=reason,
        )
        return decision


def _decide(
    signal: AnomalySignal, component: Component, now: datetime
) -> tuple[str, str, RecoveryAction | None, datetime | None]:
    if signal.status == SignalStatus.RESOLVED:
        return DecisionOutcome.SKIPPED, "the signal is already resolved", None, None
    if signal.silenced:
        return DecisionOutcome.SKIPPED, "opened during a silence: recorded, not acted on", None, None
    if signal.normal_since is not None:
        return DecisionOutcome.SKIPPED, "its metric is back to normal (the signal resolves itself)", None, None
    if signal.kind == "availability_drop":
        grace = timedelta(seconds=settings.CORE314_DEPLOY_GRACE)
        deployed = Deployment.objects.filter(component=component, deployed_at__gte=now - grace).first()
        if deployed is not None:
            # A deploy restarts the service: a short gap is expected, and restarting it again would only
            # lengthen it. Look again when the grace is over (by then it has answered, or it has not).
            reason = f"{deployed.version} was deployed {(now - deployed.deployed_at).total_seconds():.0f} s ago"
            return DecisionOutcome.DEFERRED, f"{reason}: giving it time to start", None, deployed.deployed_at + grace
    busy = RecoveryAction.objects.filter(component=component, in_flight=True).first()
    if busy is not None:
        retry = now + timedelta(seconds=settings.CORE314_HEALING_CYCLE)
        return DecisionOutcome.DEFERRED, f"action #{busy.pk} is in flight on {component.name}", None, retry
    covering = (
        RecoveryAction.objects.filter(
            component=component, verdict__in=["resolved", "improved"], started_at__gte=signal.first_seen_at
        )
        .exclude(action_type=ActionType.ALERT_ESCALATION)
        .order_by("-started_at")
        .first()
    )
    if covering is not None:
        # Already healed by an action taken since this incident began (say, the supervisor's restart of an
        # exited process): acting again would only disturb a service that is recovering.
        return DecisionOutcome.SKIPPED, f"covered by action #{covering.pk} ({covering.verdict})", None, None
    handled = signal.recovery_actions.exclude(action_type=ActionType.ALERT_ESCALATION).order_by("-created_at").first()
    if handled is not None:
        # The chain already ran for this signal (verification continues it); a severity change does not restart it.
        return DecisionOutcome.SKIPPED, f"handled by action #{handled.pk} ({handled.status})", None, None
    policy = policy_for(signal, component)
    if policy is None:
        return DecisionOutcome.SKIPPED, "no enabled policy matches this signal", None, None
    why = f"{signal.get_kind_display()} on {component.name} ({signal.severity}); policy {policy.name!r}"
    return _step_action(component, signal, policy, 0, now, why)


# --- Executing ---------------------------------------------------------------------------------------------


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
        )
        action = action.first()
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
        audit_record(
            actor=None, system_label="healer", action="recovery.start", target=action, after={"pid": os.getpid()}
        )
        publish_on_commit(row=action, event="recovery.running", data={"status": action.status})
    actuator = _actuator(action.component, action.action_type)
    try:
        executor = executor_for(action.action_type, actuator.kind if actuator else None)
        result = executor.execute(
            action.parameters, _context(action, actuator), timeout_s=float(settings.CORE314_ACTION_TIMEOUT)
        )
    except Exception as exc:  # an executor's fault ends this action, never the loop
        logger.exception("recovery action %s failed", action_id)
        result = Result(False, f"{type(exc).__name__}: {exc}"[:500])
    return _finish(action_id, result, actuator)


def _finish(action_id: int, result: Result, actuator: Actuator | None) -> RecoveryAction:
    now = timezone.now()
    with transaction.atomic():
        action = RecoveryAction.objects.select_for_update(of=("self",)).select_related("component", "signal", "policy")
        action = action.get(pk=action_id)
        if action.status != ActionStatus.RUNNING or action.claimed_by != _me():
            # Declared lost meanwhile (failed, outcome unknown): keep that, but record what actually happened.
            audit_record(
                actor=None, system_label="healer", action="recovery.late_result", target=action,
                after=result.as_dict(), reason="the result arrived after the action was declared lost",
            )  # fmt: skip
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
            action.verify_at = now + _verify_window(action)
        else:
            action.in_flight = False
        if heals:
            _attempted(component, action, now)
        action.save()
        audit_record(
            actor=None,
            system_label="healer",
            action=f"recovery.{action.status}",
            target=action,
            after={"summary": result.summary, "duration_ms": round(result.duration_ms, 1)},
        )
        publish_on_commit(row=action, event="recovery.finished", data={"status": action.status})
        if not result.ok and heals:
            _escalate(component, action.signal, f"{action.get_action_type_display()} failed: {result.summary}", now)
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
    backoff = _backoff(component, action.action_type, now)
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
    audit_record(
        actor=None, system_label="healer", action="recovery.failed_unknown", target=action, reason=action.error,
        after={"claimed_by": action.claimed_by},
    )  # fmt: skip
    publish_on_commit(row=action, event="recovery.finished", data={"status": action.status})
    component = Component.objects.get(pk=action.component_id)
    _escalate(component, action.signal, f"action #{action.pk} was lost mid-way: {action.error}", now)


# --- Verifying ---------------------------------------------------------------------------------------------


def action_verify(*, action_id: int, now: datetime | None = None) -> RecoveryAction | None:
    """After the verification window: a verdict from the events that followed; continue the chain if it did not help."""
    now = now or timezone.now()
    with transaction.atomic():
        action = (
            RecoveryAction.objects.select_for_update(of=("self",))
            .select_related("signal", "policy")
            .filter(pk=action_id)
        )
        action = action.first()
        if action is None or action.verified_at or action.status != ActionStatus.SUCCEEDED or not action.in_flight:
            return action
        component = Component.objects.select_for_update().get(pk=action.component_id)
        signal = action.signal
        metric = signal.metric if signal is not None and signal.metric in BY_METRIC else ""
        events = list(
            SystemHealthEvent.objects.filter(component=component, window_start__gte=action.finished_at)
            .exclude(window_start__gt=now)
            .order_by("window_start")
        )
        if metric:
            values = [getattr(e, metric) for e in events if getattr(e, metric) is not None]
            low, high = _band(signal, metric)
            judgement = judge(
                before=(action.before_metrics or {}).get("signal_value", signal.observed_value),
                after=values,
                direction=BY_METRIC[metric].direction,
                low=low,
                high=high,
                expected=signal.expected_value,
            )
            verdict, score, note = judgement.verdict, judgement.score, judgement.note
            recovered_at = _first_normal(events, metric, signal) if verdict == "resolved" else None
        else:
            # No metric to compare (an external alert, a manual action): the component's status decides.
            healthy = [e for e in events if e.status == "healthy"]
            resolved = bool(events) and events[-1].status == "healthy"
            verdict = "resolved" if resolved else ("improved" if healthy else "no_effect")
            score, note = (1.0 if resolved else 0.5 if healthy else 0.0), f"component {component.status}"
            recovered_at = healthy[0].window_end if resolved else None
        still_open = signal is not None and signal.status != SignalStatus.RESOLVED and signal.normal_since is None
        if verdict == "improved" and still_open and action.checks == 0:
            # Partly better (a scaled-out service whose burning replica still burns, a cache still warming):
            # one more window before judging, the component still held by this action.
            action.checks = 1
            action.verdict = verdict
            action.effectiveness = score
            action.verify_at = now + _verify_window(action)
            action.save(update_fields=["checks", "verdict", "effectiveness", "verify_at"])
            audit_record(
                actor=None,
                system_label="healer",
                action="recovery.verdict",
                target=action,
                after={"verdict": verdict, "score": score, "look_again_at": action.verify_at.isoformat()},
                reason=f"{note}; looking again before moving on",
            )
            return action
        action.checks += 1
        action.verdict = verdict
        action.effectiveness = score
        action.verified_at = now
        action.in_flight = False
        action.after_metrics = {**_snapshot(component, signal), "note": note, "windows_after": len(events)}
        if recovered_at is not None and signal is not None:
            action.time_to_recover_s = round(max(0.0, (recovered_at - signal.first_seen_at).total_seconds()), 3)
        action.save()
        audit_record(
            actor=None,
            system_label="healer",
            action="recovery.verdict",
            target=action,
            after={"verdict": verdict, "score": score, "time_to_recover_s": action.time_to_recover_s},
            reason=note,
        )
        publish_on_commit(row=action, event="recovery.verified", data={"verdict": verdict})
        if verdict == "resolved":
            _resolve_signal(signal, action, now)
        elif verdict in {"no_effect", "worse"} or (verdict == "improved" and still_open):
            if verdict != "improved":  # an action that helped a little is not one to wait longer for next time
                backoff = _backoff(component, action.action_type, now)
                backoff.attempts += 1
                backoff.save()
            if signal is not None and signal.status != SignalStatus.RESOLVED and action.policy is not None:
                outcome = "helped only partly" if verdict == "improved" else f"had {verdict.replace('_', ' ')}"
                why = f"action #{action.pk} ({action.get_action_type_display()}) {outcome}"
                _step_action(component, signal, action.policy, action.step + 1, now, why)
            elif signal is not None and signal.status != SignalStatus.RESOLVED:
                _escalate(component, signal, f"action #{action.pk} had {verdict.replace('_', ' ')}", now)
        return action


def _verify_window(action: RecoveryAction) -> timedelta:
    """How long after an action its result is judged: its own window, else its policy's, else the default."""
    wait = action.verify_after_s or (action.policy.verify_after_s if action.policy else settings.CORE314_VERIFY_AFTER)
    return timedelta(seconds=wait)


def _band(signal: AnomalySignal, metric: str) -> tuple[float | None, float | None]:
    """The normal band to judge against. A resource flagged near its limit is normal again only below the
    near-limit line, whatever band the detector learned while it was high."""
    from anomalies.rules import RESOURCE_NEAR_LIMIT

    low, high = signal.band_low, signal.band_high
    if BY_METRIC[metric].limit is not None:
        high = min(high, RESOURCE_NEAR_LIMIT) if high is not None else RESOURCE_NEAR_LIMIT
    return low, high


def _first_normal(events: list[SystemHealthEvent], metric: str, signal: AnomalySignal) -> datetime | None:
    from recovery.effectiveness import distance

    low, high = _band(signal, metric)
    for event in events:
        value = getattr(event, metric)
        if value is not None and not distance(
            value, direction=BY_METRIC[metric].direction, low=low, high=high, expected=signal.expected_value
        ):
            return event.window_end
    return None


def _resolve_signal(signal: AnomalySignal | None, action: RecoveryAction, now: datetime) -> None:
    from anomalies.services import signal_resolve

    if signal is None or signal.status == SignalStatus.RESOLVED:
        return
    with contextlib.suppress(ConflictError):
        signal_resolve(actor=None, signal=signal, note=f"healed by recovery action #{action.pk}, verified")


# --- Supervision of local processes ------------------------------------------------------------------------

SUPERVISED_VERIFY_S = 10


def supervise_processes(*, now: datetime | None = None) -> int:
    """Replicas of supervised processes that exited are restarted at once, as systemd's Restart=always
    would, but through the engine: one action in flight, crash-loop backoff, audit, verification, and an
    escalation when restarts do not help. Returns how many restarts were started."""
    from recovery import supervisor

    now = now or timezone.now()
    started = 0
    for actuator_id in Actuator.objects.filter(kind="process", enabled=True).values_list("pk", flat=True):
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
            backoff = _backoff(component, ActionType.RESTART_FUNCTION, now)
            if backoff.next_allowed_at and backoff.next_allowed_at > now:
                continue
            exited = ", ".join(f"replica {e['replica']} (pid {e['pid']})" for e in gone)
            _create(
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


# --- The beat cycle ----------------------------------------------------------------------------------------


def healing_cycle(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Pick up whatever on-commit triggers missed: expiring approvals, lost runs, due verifications,
    undecided or deferred signals, breakers due for trials. Each item is its own transaction."""
    now = now or timezone.now()
    done = dict.fromkeys(("expired", "lost", "requeued", "verified", "decided", "half_open"), 0)
    expiring = RecoveryAction.objects.filter(status=ActionStatus.PENDING_APPROVAL, approval_expires_at__lte=now)
    for action_id in expiring.values_list("pk", flat=True)[:limit]:
        done["expired"] += _expire(action_id, now)
    lost = RecoveryAction.objects.filter(status=ActionStatus.RUNNING, lease_until__lte=now)
    for action_id in lost.values_list("pk", flat=True)[:limit]:
        action_execute(action_id=action_id, now=now)
        done["lost"] += 1
    stuck = RecoveryAction.objects.filter(status=ActionStatus.APPROVED, created_at__lte=now - timedelta(seconds=30))
    for action_id in stuck.values_list("pk", flat=True)[:limit]:
        transaction.on_commit(lambda action_id=action_id: _requeue(action_id))
        done["requeued"] += 1
    due = RecoveryAction.objects.filter(status=ActionStatus.SUCCEEDED, in_flight=True, verify_at__lte=now)
    for action_id in due.values_list("pk", flat=True)[:limit]:
        action_verify(action_id=action_id, now=now)
        done["verified"] += 1
    undecided = (
        AnomalySignal.objects.exclude(status=SignalStatus.RESOLVED)
        .filter(silenced=False, last_seen_at__gte=now - timedelta(days=1))
        .exclude(healing_decisions__severity=F("severity"))
        .values_list("pk", flat=True)[:limit]
    )
    retry = HealingDecision.objects.filter(outcome=DecisionOutcome.DEFERRED, retry_at__lte=now)
    for signal_id in {*undecided, *retry.values_list("signal_id", flat=True)[:limit]}:
        heal_signal(signal_id=signal_id, now=now)
        done["decided"] += 1
    from recovery.services import breakers_promote

    done["half_open"] = breakers_promote(now=now)
    return done


def _requeue(action_id: int) -> None:
    from recovery.tasks import execute

    execute.delay(action_id)


def _expire(action_id: int, now: datetime) -> int:
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
        audit_record(
            actor=None, system_label="healer", action="recovery.expire", target=action,
            before={"status": ActionStatus.PENDING_APPROVAL}, after={"status": ActionStatus.EXPIRED},
            reason="nobody approved or rejected it in time",
        )  # fmt: skip
        publish_on_commit(row=action, event="recovery.expired", data={"status": action.status})
        component = Component.objects.get(pk=action.component_id)
        _escalate(component, action.signal, f"approval of action #{action.pk} expired: nobody decided", now)
        return 1


# --- People's actions --------------------------------------------------------------------------------------


def _locked_action(action: RecoveryAction) -> RecoveryAction:
    return (
        RecoveryAction.objects.select_for_update(of=("self",)).select_related("component", "signal").get(pk=action.pk)
    )


@transaction.atomic
def action_approve(*, actor: Actor, action: RecoveryAction, reason: str = "") -> RecoveryAction:
    now = timezone.now()
    action = _locked_action(action)
    if action.status != ActionStatus.PENDING_APPROVAL:
        raise ConflictError(f"Only an action pending approval can be approved; this one is {action.status}.")
    if action.approval_expires_at and action.approval_expires_at <= now:
        _expire(action.pk, now)
        raise ConflictError("This approval has expired; the action will not run.")
    action.status = ActionStatus.APPROVED
    action.decided_by = actor
    action.decided_at = now
    action.save()
    audit_record(
        actor=actor, action="recovery.approve", target=action, before={"status": ActionStatus.PENDING_APPROVAL},
        after={"status": ActionStatus.APPROVED}, reason=reason,
    )  # fmt: skip
    publish_on_commit(row=action, event="recovery.approved", data={"status": action.status})
    _enqueue(action.pk)
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
    action.decided_by = actor
    action.decided_at = action.finished_at = timezone.now()
    action.error = f"rejected: {reason.strip()}"[:2000]
    action.save()
    audit_record(
        actor=actor, action="recovery.reject", target=action, before={"status": ActionStatus.PENDING_APPROVAL},
        after={"status": ActionStatus.REJECTED}, reason=reason,
    )  # fmt: skip
    publish_on_commit(row=action, event="recovery.rejected", data={"status": action.status})
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
    audit_record(
        actor=actor, action="recovery.cancel", target=action, before={"status": before},
        after={"status": ActionStatus.CANCELLED}, reason=reason,
    )  # fmt: skip
    publish_on_commit(row=action, event="recovery.cancelled", data={"status": action.status})
    return action


def action_dry_run(*, actor: Actor, component: Component, action_type: str, parameters: Any) -> dict[str, Any]:
    """The plan of an action, with no side effect and nothing stored."""
    if action_type not in ActionType.values:
        raise DomainError(f"Unknown action type {action_type!r}.")
    if not isinstance(parameters, dict):
        raise DomainError("parameters must be a JSON object.")
    probe = RecoveryAction(owner_id=component.owner_id, component=component, action_type=action_type)
    try:
        cleaned, plan = _plan(action_type, parameters, component, probe)
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
        action = _create(
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
        action.decided_by = actor
        action.decided_at = now
        action.save(update_fields=["decided_by", "decided_at"])
    return action


@transaction.atomic
def healing_pause_set(*, actor: Actor, paused: bool, reason: str = "", everyone: bool = False) -> HealingSwitch:
    """Pause or resume automatic healing for the actor's components, or (administrators) for everyone."""
    from core314.tenancy import effective_owner

    if everyone and not is_admin(actor):
        raise PermissionDeniedError("Only administrators pause healing for everyone.")
    user = None if everyone else effective_owner(actor)
    switch = HealingSwitch.objects.select_for_update().filter(user=user, is_global=everyone).first()
    switch = switch or HealingSwitch(user=user, is_global=everyone)
    before = switch.paused
    switch.paused = paused
    switch.reason = reason[:300]
    switch.changed_by = actor
    switch.changed_at = timezone.now()
    switch.save()
    audit_record(
        actor=actor,
        action="healing.pause" if paused else "healing.resume",
        target=None,
        owner=user,
        before={"paused": before},
        after={"paused": paused, "everyone": everyone},
        reason=reason,
    )
    return switch


# --- Policies ----------------------------------------------------------------------------------------------

DEFAULT_POLICIES: list[dict[str, Any]] = [
    {
        "name": "Restart when it stops answering",
        "priority": 10,
        "kinds": ["availability_drop"],
        "min_severity": "high",
        "action_type": "restart_function",
        "mode": "automatic",
        "chain": [{"action_type": "rollback_deployment"}, {"action_type": "circuit_breaker"}],
    },
    {
        "name": "Roll back when errors rise",
        "priority": 20,
        "kinds": ["error_rate_increase"],
        "min_severity": "medium",
        "action_type": "rollback_deployment",
        "mode": "approval",
        "chain": [{"action_type": "restart_function"}, {"action_type": "circuit_breaker", "parameters": {}}],
    },
    {
        "name": "Restart when latency spikes",
        "priority": 30,
        "kinds": ["latency_spike"],
        "min_severity": "high",
        "action_type": "restart_function",
        "mode": "automatic",
        "chain": [{"action_type": "scale_up", "parameters": {"by": 1}}],
    },
    {
        "name": "Scale up when resources run out",
        "priority": 40,
        "kinds": ["resource_exhaustion"],
        "min_severity": "high",
        "action_type": "scale_up",
        "parameters": {"by": 1},
        "mode": "automatic",
        "chain": [{"action_type": "restart_function"}],
    },
    {
        "name": "Tell someone about anything critical",
        "priority": 90,
        "kinds": [],
        "min_severity": "critical",
        "action_type": "alert_escalation",
        "mode": "automatic",
        "chain": [],
    },
]


def clean_policy(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate a policy's fields (types, chain, severities); DomainError names the problem."""
    from anomalies.models import AnomalyKind

    kinds = fields.get("kinds", [])
    if not isinstance(kinds, list) or any(k not in AnomalyKind.values for k in kinds):
        raise DomainError(f"kinds must be a list of {', '.join(AnomalyKind.values)}.")
    metrics = fields.get("metrics", [])
    if not isinstance(metrics, list) or any(not isinstance(m, str) or len(m) > 64 for m in metrics):
        raise DomainError("metrics must be a list of metric names (error_rate, cpu_percent, …).")
    if fields.get("min_severity", "medium") not in SEVERITY_ORDER:
        raise DomainError(f"min_severity must be one of {', '.join(SEVERITY_ORDER)}.")
    if fields.get("action_type") not in ActionType.values:
        raise DomainError(f"action_type must be one of {', '.join(ActionType.values)}.")
    if fields.get("mode", ActionMode.APPROVAL) not in ActionMode.values:
        raise DomainError(f"mode must be one of {', '.join(ActionMode.values)}.")
    chain = fields.get("chain", [])
    if not isinstance(chain, list) or len(chain) > 5:
        raise DomainError("chain must be a list of at most 5 steps.")
    for step in [{"action_type": fields["action_type"], "parameters": fields.get("parameters", {})}, *chain]:
        if not isinstance(step, dict) or step.get("action_type") not in ActionType.values:
            raise DomainError("each chain step needs an action_type.")
        if not isinstance(step.get("parameters", {}), dict):
            raise DomainError("a step's parameters must be a JSON object.")
        if step.get("mode", ActionMode.AUTOMATIC) not in ActionMode.values:
            raise DomainError(f"a step's mode must be one of {', '.join(ActionMode.values)}.")
        kinds_for = ACTUATORS_FOR[step["action_type"]]
        try:
            # Parameters are checked with the executor for the first actuator kind that carries the action.
            executor_for(step["action_type"], kinds_for[0] if kinds_for else None).clean(step.get("parameters") or {})
        except ParameterError as exc:
            raise DomainError(f"{step['action_type']}: {exc}") from exc
    return fields


@transaction.atomic
def policy_save(*, actor: Actor, owner: Any, policy: RecoveryPolicy | None = None, **fields: Any) -> RecoveryPolicy:
    merged = {}
    if policy is not None:
        policy = RecoveryPolicy.objects.select_for_update().get(pk=policy.pk)
        names = ("kinds", "metrics", "min_severity", "action_type", "parameters", "mode", "chain")
        merged = {name: getattr(policy, name) for name in names}
    merged.update(fields)
    clean_policy(merged)
    component = fields.get("component")
    if component is not None and component.owner_id != (owner.pk if policy is None else policy.owner_id):
        raise DomainError("The component belongs to someone else.")
    if (
        RecoveryPolicy.objects.filter(owner=owner, name=fields.get("name", policy.name if policy else ""))
        .exclude(pk=policy.pk if policy else None)
        .exists()
    ):
        raise ConflictError("A policy with this name exists.")
    created = policy is None
    policy = policy or RecoveryPolicy(owner=owner)
    before = None if created else {"mode": policy.mode, "enabled": policy.enabled, "action_type": policy.action_type}
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.save()
    audit_record(
        actor=actor,
        action="policy.create" if created else "policy.update",
        target=policy,
        before=before,
        after={"mode": policy.mode, "enabled": policy.enabled, "action_type": policy.action_type},
    )
    return policy


@transaction.atomic
def policy_delete(*, actor: Actor, policy: RecoveryPolicy) -> None:
    audit_record(actor=actor, action="policy.delete", target=policy, before={"name": policy.name})
    policy.delete()


def policies_ensure_defaults(*, owner: Any) -> int:
    """Create the default policies a new user starts with (none that already exist by name)."""
    made = 0
    with transaction.atomic():
        existing = set(RecoveryPolicy.objects.filter(owner=owner).values_list("name", flat=True))
        for spec in DEFAULT_POLICIES:
            if spec["name"] not in existing:
                RecoveryPolicy.objects.create(owner=owner, **spec)
                made += 1
        if made:
            audit_record(
                actor=None, system_label="setup", action="policy.defaults", owner=owner, after={"created": made}
            )
    return made
