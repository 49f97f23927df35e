"""Deciding: for an opened or escalated signal, the matching policy's first step that can run here, within the
safety limits, or a reason to wait, to skip, or to escalate.

Every safety rule is held by the database, so it holds across worker processes and restarts:

* one action in flight per component (a partial unique index on ``in_flight``; decisions for a component are
  serialised by locking its row);
* cooldowns with exponential backoff per (component, action) in ``Backoff``, and hourly caps counted from
  ``recovery_actions``; past a cap, a loud escalation;
* a global and per-user pause, and a blast-radius guard, both turn automatic actions into dry runs and escalate.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from anomalies.models import AnomalyKind, AnomalySignal, SignalStatus
from anomalies.rules import SEVERITY_ORDER
from core314.changes import record_change
from health.models import Component, ComponentStatus
from recovery.executors import ACTUATORS_FOR, ParameterError
from recovery.models import (
    ActionMode,
    ActionStatus,
    ActionType,
    DecisionOutcome,
    Deployment,
    HealingDecision,
    HealingSwitch,
    RecoveryAction,
    RecoveryPolicy,
    Verdict,
)
from recovery.services.actions import action_create, actuator_for, backoff_for
from recovery.services.escalation import escalate

FAILING = (ComponentStatus.UNHEALTHY, ComponentStatus.CRITICAL)


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
    """The first enabled policy (by priority) of the component's owner that matches the signal."""
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


def _runs_this_hour(component: Component, policy: RecoveryPolicy, now: datetime) -> int:
    return (
        RecoveryAction.objects.filter(component=component, policy=policy, created_at__gte=now - timedelta(hours=1))
        .exclude(action_type=ActionType.ALERT_ESCALATION)
        .exclude(status__in=[ActionStatus.SKIPPED, ActionStatus.REJECTED, ActionStatus.EXPIRED, ActionStatus.CANCELLED])
        .count()
    )


# --- Acting on a policy ------------------------------------------------------------------------------------


def step_action(
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
            action = escalate(component, signal, f"{why}; policy {policy.name!r} escalates", now, policy)
            return DecisionOutcome.ACTED, "escalated as the policy says", action, None
        if ACTUATORS_FOR.get(action_type) and actuator_for(component, action_type) is None:
            continue  # this component cannot be acted on that way: try the next step
        backoff = backoff_for(component, action_type, now)
        if backoff.next_allowed_at and backoff.next_allowed_at > now:
            reason = f"{action_type} is cooling down until {backoff.next_allowed_at:%H:%M:%S} UTC"
            return DecisionOutcome.DEFERRED, reason, None, backoff.next_allowed_at
        if _runs_this_hour(component, policy, now) >= policy.max_per_hour:
            reason = f"policy {policy.name!r} reached {policy.max_per_hour} runs this hour on {component.name}"
            action = escalate(component, signal, f"{why}; {reason}", now, policy)
            return DecisionOutcome.ACTED, f"{reason}: escalated", action, None
        mode = step.get("mode") or policy.mode
        observe = healing_paused(component.owner_id) or blast_radius(component)
        if observe and mode == ActionMode.AUTOMATIC:
            mode = ActionMode.DRY_RUN
        try:
            action = action_create(
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
            escalate(component, signal, f"{why}; {observe}", now, policy)
        return DecisionOutcome.ACTED, f"{action.get_action_type_display()} ({action.get_mode_display()})", action, None
    skipped = f" ({'; '.join(passed)})" if passed else ""
    action = escalate(component, signal, f"{why}; nothing left to try in policy {policy.name!r}{skipped}", now, policy)
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
        record_change(
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
    if signal.kind == AnomalyKind.AVAILABILITY_DROP:
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
            component=component,
            verdict__in=[Verdict.RESOLVED, Verdict.IMPROVED],
            started_at__gte=signal.first_seen_at,
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
    return step_action(component, signal, policy, 0, now, why)
