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

from anomalies.models import AnomalyKind, AnomalySignal, Incident, SignalStatus
from anomalies.rules import SEVERITY_ORDER
from anomalies.services import incident_attach
from core314.changes import record_change
from health.models import Component, ComponentStatus
from recovery.executors import ACTUATORS_FOR, ParameterError
from recovery.learning import next_position
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
from recovery.services.arbiter import budget_full, budget_lock
from recovery.services.escalation import escalate
from recovery.services.learning import order_for

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


def policy_matches(policy: RecoveryPolicy, signal: AnomalySignal, component: Component) -> bool:
    """Does ``policy`` cover this signal on this component (kind, metric, severity, component, type, tag)?"""
    if policy.kinds and signal.kind not in policy.kinds:
        return False
    if policy.metrics and signal.metric not in policy.metrics:
        return False
    if SEVERITY_ORDER.index(policy.min_severity) > SEVERITY_ORDER.index(signal.severity):
        return False
    if policy.component_id and policy.component_id != component.pk:
        return False
    if policy.component_type and policy.component_type != component.type:
        return False
    return not (policy.tag and policy.tag not in (component.tags or []))


def policy_for(signal: AnomalySignal, component: Component) -> RecoveryPolicy | None:
    """The first enabled policy (by priority) of the component's owner that matches the signal."""
    policies = RecoveryPolicy.objects.filter(owner_id=component.owner_id, enabled=True).order_by("priority", "id")
    return next((policy for policy in policies if policy_matches(policy, signal, component)), None)


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
    order: list[int] | None = None,
) -> tuple[str, str, RecoveryAction | None, datetime | None]:
    """Create the action for the first step from position ``start`` of ``order`` (indices into the policy's
    steps; the policy's own order by default) this component can carry, within the limits.

    Returns (outcome, reason, action, retry_at).
    """
    steps = policy.steps()
    if order is None or sorted(order) != list(range(len(steps))):
        order = list(range(len(steps)))  # none kept, or the policy's steps changed since: as written
    passed: list[str] = []  # steps that cannot run here, and why
    for index in order[start:]:
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
        paused, crowded = healing_paused(component.owner_id), blast_radius(component)
        observe = paused or crowded
        if observe and mode == ActionMode.AUTOMATIC:
            mode = ActionMode.DRY_RUN
        if mode == ActionMode.AUTOMATIC:
            budget_lock()
            full = budget_full(owner_id=component.owner_id, now=now)
            if full:
                escalate(component, signal, f"{why}; {full}", now, policy, storm=True)
                return DecisionOutcome.DEFERRED, full, None, now + timedelta(seconds=settings.CORE314_HEALING_CYCLE)
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
                chain_order=order,
            )
        except (ParameterError, OSError) as exc:
            passed.append(f"{action_type} cannot run ({exc})")
            continue  # e.g. no earlier version to roll back to: the next step may still help
        if observe:
            escalate(component, signal, f"{why}; {observe}", now, policy, storm=bool(crowded) and not paused)
        return DecisionOutcome.ACTED, f"{action.get_action_type_display()} ({action.get_mode_display()})", action, None
    skipped = f" ({'; '.join(passed)})" if passed else ""
    action = escalate(component, signal, f"{why}; nothing left to try in policy {policy.name!r}{skipped}", now, policy)
    return DecisionOutcome.ACTED, f"no step of the policy can run here{skipped}: escalated", action, None


# --- Deciding ---------------------------------------------------------------------------------------------

Choice = tuple[str, str, RecoveryAction | None, datetime | None, AnomalySignal | None]


def heal_signal(*, signal_id: int, now: datetime | None = None) -> HealingDecision | None:
    """Decide for the incident of an opened, returning or worsening signal: one decision per incident,
    episode and severity (one fault, one decision; again when it comes back or gets worse)."""
    now = now or timezone.now()
    with transaction.atomic():
        signal = AnomalySignal.objects.select_related("incident", "component").filter(pk=signal_id).first()
        if signal is None:
            return None
        # Decisions about the components of one fault wait for each other, across every worker process:
        # components first, in one order, then the incident (the order verification locks them in).
        ids = {signal.component_id}
        if signal.incident is not None:
            members = signal.incident.signals.exclude(status=SignalStatus.RESOLVED)
            ids |= {signal.incident.component_id, *members.values_list("component_id", flat=True)}
        list(Component.objects.select_for_update().filter(pk__in=sorted(ids)).order_by("pk"))
        incident = signal.incident if signal.incident is not None else incident_attach(signal=signal, now=now)[0]
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        decision = HealingDecision.objects.filter(
            incident=incident, episode=incident.episode, severity=incident.severity
        ).first()
        if decision is not None and (
            decision.outcome != DecisionOutcome.DEFERRED or (decision.retry_at and decision.retry_at > now)
        ):
            return decision
        outcome, reason, action, retry_at, lead = _decide(incident, now)
        lead = lead or signal
        if decision is None:
            decision = HealingDecision(
                owner_id=incident.owner_id, incident=incident, episode=incident.episode, severity=incident.severity
            )
        decision.signal, decision.component_id = lead, lead.component_id
        decision.outcome, decision.reason, decision.action, decision.retry_at = outcome, reason[:300], action, retry_at
        decision.save()
        record_change(
            actor=None,
            system_label="healer",
            action=f"healing.{outcome}",
            target=incident,
            after={
                "episode": incident.episode, "severity": incident.severity, "signal": lead.pk,
                "action": action.pk if action else None, "retry_at": str(retry_at),
            },
            reason=reason,
        )  # fmt: skip
        return decision


def _lead(members: list[AnomalySignal]) -> tuple[RecoveryPolicy, AnomalySignal] | None:
    """The member the incident is healed by: causes before symptoms, then the one whose matching policy comes
    first, then the most severe."""
    matched = []
    for member in members:
        policy = policy_for(member, member.component)
        if policy is not None:
            symptom = member.cause_id is not None
            rank = (symptom, policy.priority, policy.pk, -SEVERITY_ORDER.index(member.severity))
            matched.append((rank, policy, member))
    if not matched:
        return None
    _, policy, member = min(matched, key=lambda m: m[0])
    return policy, member


def _cause_note(lead: AnomalySignal, now: datetime) -> tuple[str, datetime | None]:
    """A symptom waits for its cause: ("waiting …", retry) while the cause is open; once it is resolved, the
    note that the symptom outlived its cause's recovery."""
    cause = lead.cause
    if cause is None:
        return "", None
    if cause.status != SignalStatus.RESOLVED:
        why = (
            f"a symptom of {cause.get_kind_display().lower()} on {cause.component.name} (signal #{cause.pk}): "
            "waiting for its cause to be healed"
        )
        return why, now + timedelta(seconds=settings.CORE314_HEALING_CYCLE)
    return f"it outlived its cause's recovery (signal #{cause.pk} resolved)", None


def _decide(incident: Incident, now: datetime) -> Choice:
    members = list(
        incident.signals.exclude(status=SignalStatus.RESOLVED).select_related("component").order_by("first_seen_at")
    )
    if incident.status == SignalStatus.RESOLVED or not members:
        return DecisionOutcome.SKIPPED, "the incident is already resolved", None, None, None
    live = [m for m in members if not m.silenced]
    if not live:
        return DecisionOutcome.SKIPPED, "opened during a silence: recorded, not acted on", None, None, members[0]
    deviating = [m for m in live if m.normal_since is None]
    if not deviating:
        why = "its metrics are back to normal (the incident resolves itself; it is decided again if they deviate)"
        return DecisionOutcome.SKIPPED, why, None, None, live[0]
    chosen = _lead(deviating)
    if chosen is None:
        return DecisionOutcome.SKIPPED, "no enabled policy matches its signals", None, None, deviating[0]
    policy, lead = chosen
    component = lead.component
    waiting, retry_at = _cause_note(lead, now)
    if retry_at is not None:
        return DecisionOutcome.DEFERRED, waiting, None, retry_at, lead
    if lead.kind == AnomalyKind.AVAILABILITY_DROP:
        grace = timedelta(seconds=settings.CORE314_DEPLOY_GRACE)
        deployed = Deployment.objects.filter(component=component, deployed_at__gte=now - grace).first()
        if deployed is not None:
            # A deploy restarts the service: a short gap is expected, and restarting it again would only
            # lengthen it. Look again when the grace is over (by then it has answered, or it has not).
            reason = f"{deployed.version} was deployed {(now - deployed.deployed_at).total_seconds():.0f} s ago"
            retry = deployed.deployed_at + grace
            return DecisionOutcome.DEFERRED, f"{reason}: giving it time to start", None, retry, lead
    busy = RecoveryAction.objects.filter(component=component, in_flight=True).first()
    if busy is not None:
        retry = now + timedelta(seconds=settings.CORE314_HEALING_CYCLE)
        return DecisionOutcome.DEFERRED, f"action #{busy.pk} is in flight on {component.name}", None, retry, lead
    healing = RecoveryAction.objects.exclude(action_type=ActionType.ALERT_ESCALATION)
    covering = (
        healing.filter(
            component=component,
            verdict__in=[Verdict.RESOLVED, Verdict.IMPROVED],
            started_at__gte=incident.episode_started_at,
        )
        .order_by("-started_at")
        .first()
    )
    if covering is not None:
        # Already healed by an action taken since this episode began (say, the supervisor's restart of an
        # exited process): acting again would only disturb a service that is recovering.
        return DecisionOutcome.SKIPPED, f"covered by action #{covering.pk} ({covering.verdict})", None, None, lead
    handled = healing.filter(incident=incident, episode=incident.episode).order_by("-created_at").first()
    if handled is not None:
        # The chain already runs for this episode (verification continues it); more severity does not restart it.
        return DecisionOutcome.SKIPPED, f"handled by action #{handled.pk} ({handled.status})", None, None, lead
    why = f"{lead.get_kind_display()} on {component.name} ({incident.severity}); policy {policy.name!r}"
    if waiting:
        why = f"{why}; {waiting}"
    start, order, note = _chain_start(incident, policy, lead, now)
    if start is None:
        action = escalate(component, lead, f"{why}; {note}", now, policy)
        return DecisionOutcome.ACTED, f"{note}: escalated", action, None, lead
    if note:
        why = f"{why}; {note}"
    return (*step_action(component, lead, policy, start, now, why, order), lead)


def _chain_start(
    incident: Incident, policy: RecoveryPolicy, lead: AnomalySignal, now: datetime
) -> tuple[int | None, list[int], str]:
    """Where a new episode's chain starts, and in what order: where it stopped if the last repair did not
    help (the chain goes on); else from the top, in the order that has worked best here (the same repair, for
    a fault that came back), unless it keeps coming back."""
    previous = (
        RecoveryAction.objects.filter(incident=incident, episode__lt=incident.episode)
        .exclude(action_type=ActionType.ALERT_ESCALATION)
        .exclude(status__in=[ActionStatus.SKIPPED, ActionStatus.REJECTED, ActionStatus.EXPIRED, ActionStatus.CANCELLED])
        .order_by("-created_at")
        .first()
    )
    learned = order_for(lead.component, lead.kind, policy, now)
    if previous is None:
        return 0, learned.indices, learned.note
    if incident.episode > settings.CORE314_INCIDENT_MAX_EPISODES:
        return None, [], f"it came back {incident.episode - 1} times after repairs"
    if previous.verdict in (Verdict.RESOLVED, Verdict.IMPROVED) or previous.policy_id != policy.pk:
        note = f"episode {incident.episode}: action #{previous.pk} helped last time"
        return 0, learned.indices, f"{note}; {learned.note}" if learned.note else note
    order = previous.chain_order or list(range(len(policy.steps())))
    return (
        next_position(order, previous.step),
        order,
        f"episode {incident.episode}: action #{previous.pk} ({previous.verdict or previous.status}) did not help",
    )
