"""Policies: the defaults a new user starts with, validation, and saving or deleting one."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from anomalies.models import AnomalyKind, Severity
from anomalies.rules import SEVERITY_ORDER
from core314 import egress
from core314.changes import record_change
from core314.services import ConflictError, DomainError, PermissionDeniedError
from core314.tenancy import Actor
from recovery.executors import ACTUATORS_FOR, ParameterError, executor_for
from recovery.models import ActionMode, ActionType, RecoveryPolicy
from recovery.services.learning import promotion_check

DEFAULT_POLICIES: list[dict[str, Any]] = [
    {
        "name": "Restart when it stops answering",
        "priority": 10,
        "kinds": [AnomalyKind.AVAILABILITY_DROP],
        "min_severity": Severity.HIGH,
        "action_type": ActionType.RESTART_FUNCTION,
        "mode": ActionMode.AUTOMATIC,
        "chain": [{"action_type": ActionType.ROLLBACK_DEPLOYMENT}, {"action_type": ActionType.CIRCUIT_BREAKER}],
    },
    {
        "name": "Roll back when errors rise",
        "priority": 20,
        "kinds": [AnomalyKind.ERROR_RATE_INCREASE],
        "min_severity": Severity.MEDIUM,
        "action_type": ActionType.ROLLBACK_DEPLOYMENT,
        "mode": ActionMode.APPROVAL,
        "chain": [
            {"action_type": ActionType.RESTART_FUNCTION},
            {"action_type": ActionType.CIRCUIT_BREAKER, "parameters": {}},
        ],
    },
    {
        "name": "Restart when latency spikes",
        "priority": 30,
        "kinds": [AnomalyKind.LATENCY_SPIKE],
        "min_severity": Severity.HIGH,
        "action_type": ActionType.RESTART_FUNCTION,
        "mode": ActionMode.AUTOMATIC,
        "chain": [{"action_type": ActionType.SCALE_UP, "parameters": {"by": 1}}],
    },
    {
        "name": "Scale up when resources run out",
        "priority": 40,
        "kinds": [AnomalyKind.RESOURCE_EXHAUSTION],
        "min_severity": Severity.HIGH,
        "action_type": ActionType.SCALE_UP,
        "parameters": {"by": 1},
        "mode": ActionMode.AUTOMATIC,
        "chain": [{"action_type": ActionType.RESTART_FUNCTION}],
    },
    {
        "name": "Tell someone about anything critical",
        "priority": 90,
        "kinds": [],
        "min_severity": Severity.CRITICAL,
        "action_type": ActionType.ALERT_ESCALATION,
        "mode": ActionMode.AUTOMATIC,
        "chain": [],
    },
]


def clean_policy(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate a policy's fields (types, chain, severities); DomainError names the problem."""
    kinds = fields.get("kinds", [])
    if not isinstance(kinds, list) or any(k not in AnomalyKind.values for k in kinds):
        raise DomainError(f"kinds must be a list of {', '.join(AnomalyKind.values)}.")
    metrics = fields.get("metrics", [])
    if not isinstance(metrics, list) or any(not isinstance(m, str) or len(m) > 64 for m in metrics):
        raise DomainError("metrics must be a list of metric names (error_rate, cpu_percent, …).")
    if fields.get("min_severity", Severity.MEDIUM) not in SEVERITY_ORDER:
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


def _whole_flush_check(*, actor: Actor, owner: Any, fields: dict[str, Any]) -> None:
    """A step that flushes a whole cache database (``clear_cache`` with ``all``) is an administrator's to set."""
    steps = [{"action_type": fields["action_type"], "parameters": fields.get("parameters") or {}}]
    steps += fields.get("chain") or []
    flushes = any(s["action_type"] == "clear_cache" and (s.get("parameters") or {}).get("all") for s in steps)
    if flushes and not egress.save_privileged(actor=actor, owner=owner):
        raise PermissionDeniedError("A whole-database flush (clear_cache with all=true) needs an administrator.")


@transaction.atomic
def policy_save(
    *, actor: Actor, owner: Any, policy: RecoveryPolicy | None = None, promotion_reason: str = "", **fields: Any
) -> RecoveryPolicy:
    """Create or change a policy. Making an existing policy automatic needs evidence (dry or approved runs that
    matched a repair that helped) or an administrator's ``promotion_reason``; both are in the audit."""
    merged = {}
    if policy is not None:
        policy = RecoveryPolicy.objects.select_for_update().get(pk=policy.pk)
        names = ("kinds", "metrics", "min_severity", "action_type", "parameters", "mode", "chain")
        merged = {name: getattr(policy, name) for name in names}
    merged.update(fields)
    clean_policy(merged)
    _whole_flush_check(actor=actor, owner=owner if policy is None else policy.owner, fields=merged)
    component = fields.get("component")
    if component is not None and component.owner_id != (owner.pk if policy is None else policy.owner_id):
        raise DomainError("The component belongs to someone else.")
    same_name = RecoveryPolicy.objects.filter(owner=owner, name=fields.get("name", policy.name if policy else ""))
    if policy is not None:
        same_name = same_name.exclude(pk=policy.pk)
    if same_name.exists():
        raise ConflictError("A policy with this name exists.")
    created = policy is None
    promoted = ""
    if policy is not None and policy.mode != ActionMode.AUTOMATIC and fields.get("mode") == ActionMode.AUTOMATIC:
        promoted = promotion_check(actor=actor, policy=policy, reason=promotion_reason)
    policy = policy or RecoveryPolicy(owner=owner)
    before = None if created else _audited(policy)
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.save()
    record_change(
        actor=actor,
        action="policy.create" if created else "policy.promote" if promoted else "policy.update",
        target=policy,
        before=before,
        after=_audited(policy),
        reason=promoted,
    )
    return policy


def _audited(policy: RecoveryPolicy) -> dict[str, Any]:
    return {"mode": policy.mode, "enabled": policy.enabled, "action_type": policy.action_type, "pinned": policy.pinned}


@transaction.atomic
def policy_delete(*, actor: Actor, policy: RecoveryPolicy) -> None:
    record_change(actor=actor, action="policy.delete", target=policy, before={"name": policy.name})
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
            record_change(
                actor=None, system_label="setup", action="policy.defaults", owner=owner, after={"created": made}
            )
    return made
