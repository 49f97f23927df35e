"""Learning which repairs work: every verdict is a try in the track record of (component type or tag, signal
kind, action); a chain starts with the step that has worked best there; a repair that failed three times in a
row on a component is demoted there (and restored, audited, once it helps again or a person says so); a policy
becomes automatic on evidence, or on an administrator's stated reason."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from core314.changes import record_change
from core314.services import DomainError, PermissionDeniedError
from core314.tenancy import Actor, acting_user, is_admin
from health.models import Component
from recovery.learning import Order, Record, chain_order
from recovery.models import (
    ActionMode,
    ActionType,
    Demotion,
    RecoveryAction,
    RecoveryPolicy,
)
from recovery.selectors import HELPED, LOOKBACK, tried_actions

# A narrower context (a tag) is used once it has this many tries; until then the component type's.
NARROW_AFTER = 3


def _counted(actions: QuerySet[RecoveryAction], scope: str) -> dict[str, Record]:
    rows = actions.values("action_type").annotate(n=Count("id"), ok=Count("id", filter=Q(verdict__in=HELPED)))
    return {row["action_type"]: Record(row["n"], row["ok"], scope) for row in rows}


def records_for(component: Component, kind: str, action_types: list[str], now: datetime) -> dict[str, Record]:
    """Each action's record for this kind of signal: on the component's tag with the most tries (once it has
    a few), else on its type."""
    base = tried_actions(owner_id=component.owner_id, since=now - LOOKBACK).filter(
        signal__kind=kind, action_type__in=action_types
    )
    found = _counted(base.filter(component__type=component.type), f"{component.type} components")
    for tag in (component.tags or [])[:10]:
        for action_type, record in _counted(base.filter(component__tags__contains=[tag]), f"tag {tag}").items():
            if record.tries >= NARROW_AFTER and record.tries > found.get(action_type, Record(0, 0)).tries:
                found[action_type] = record
    return found


def demoted_on(component: Component) -> dict[str, str]:
    return dict(
        Demotion.objects.filter(component=component, cleared_at__isnull=True).values_list("action_type", "reason")
    )


def order_for(component: Component, kind: str, policy: RecoveryPolicy, now: datetime) -> Order:
    """The order this component's chain tries the policy's steps in, and why it is not the policy's own."""
    kinds = [step.get("action_type", "") for step in policy.steps()]
    records = {} if policy.pinned else records_for(component, kind, kinds, now)
    return chain_order(kinds, records, demoted=demoted_on(component), pinned=policy.pinned)


def demotion_review(action: RecoveryAction, now: datetime) -> Demotion | None:
    """After a verdict (or an outright failure): demote the repair on this component when its last tries there
    all failed, or restore it once it helped. Inside the caller's transaction."""
    if action.action_type == ActionType.ALERT_ESCALATION or action.mode == ActionMode.DRY_RUN:
        return None
    active = Demotion.objects.select_for_update().filter(
        component_id=action.component_id, action_type=action.action_type, cleared_at__isnull=True
    )
    if action.verdict in HELPED:
        for demotion in active:
            _clear(demotion, None, f"action #{action.pk} helped ({action.verdict})", now)
        return None
    need = settings.CORE314_DEMOTE_AFTER
    last = list(
        tried_actions(owner_id=action.owner_id, since=now - LOOKBACK)
        .filter(component_id=action.component_id, action_type=action.action_type)
        .order_by("-created_at", "-id")[:need]
    )
    if len(last) < need or any(a.verdict in HELPED for a in last) or active.exists():
        return None
    outcomes = ", ".join(f"#{a.pk} {a.verdict.replace('_', ' ') if a.verdict else 'failed'}" for a in last)
    reason = f"failed {need} times in a row here ({outcomes})"
    demotion = Demotion.objects.create(
        owner_id=action.owner_id,
        component_id=action.component_id,
        action_type=action.action_type,
        reason=reason[:300],
        actions=[a.pk for a in last],
        created_at=now,
    )
    record_change(
        actor=None, system_label="healer", action="recovery.demoted", target=demotion,
        after={"component": action.component_id, "action_type": action.action_type, "actions": demotion.actions},
        reason=reason, event="recovery.demoted",
    )  # fmt: skip
    return demotion


def _clear(demotion: Demotion, actor: Actor | None, why: str, now: datetime) -> None:
    demotion.cleared_at = now
    demotion.cleared_by = acting_user(actor) if actor is not None else None
    demotion.clear_reason = why[:300]
    demotion.save(update_fields=["cleared_at", "cleared_by", "clear_reason"])
    record_change(
        actor=actor, system_label="healer", action="recovery.demotion_cleared", target=demotion,
        after={"action_type": demotion.action_type}, reason=why, event="recovery.demoted",
    )  # fmt: skip


@transaction.atomic
def demotion_clear(*, actor: Actor, demotion: Demotion, reason: str) -> Demotion:
    """A person restores a demoted repair on its component (say, after fixing what made it fail)."""
    if not reason.strip():
        raise DomainError("Say why the repair can be trusted again.")
    demotion = Demotion.objects.select_for_update().get(pk=demotion.pk)
    if demotion.cleared_at is None:
        _clear(demotion, actor, reason.strip(), timezone.now())
    return demotion


# --- Promotion: dry run (or approval) → automatic ----------------------------------------------------------


def promotion_evidence(policy: RecoveryPolicy, *, since: datetime | None = None) -> list[int]:
    """The policy's runs that vouch for it: approved runs that helped, and dry runs whose plan a real action
    then carried out on the same component (within the hour) and that helped."""
    since = since or timezone.now() - LOOKBACK
    runs = RecoveryAction.objects.filter(policy=policy, created_at__gte=since).exclude(
        action_type=ActionType.ALERT_ESCALATION
    )
    found = list(runs.filter(mode=ActionMode.APPROVAL, verdict__in=HELPED).values_list("pk", flat=True)[:50])
    for dry in runs.filter(mode=ActionMode.DRY_RUN).order_by("-created_at")[:200]:
        helped = (
            RecoveryAction.objects.filter(
                component_id=dry.component_id,
                action_type=dry.action_type,
                created_at__gte=dry.created_at,
                created_at__lte=dry.created_at + timedelta(hours=1),
                verdict__in=HELPED,
            )
            .exclude(mode=ActionMode.DRY_RUN)
            .exists()
        )
        if helped:
            found.append(dry.pk)
    return found


def promotion_check(*, actor: Actor, policy: RecoveryPolicy, reason: str) -> str:
    """Why this policy may become automatic (for the audit), or DomainError/PermissionDeniedError saying what
    it lacks."""
    evidence = promotion_evidence(policy)
    need = settings.CORE314_PROMOTION_EVIDENCE
    if len(evidence) >= need:
        return f"{len(evidence)} runs matched a repair that helped (#{', #'.join(map(str, evidence[:5]))})"
    if reason.strip():
        if not is_admin(actor):
            raise PermissionDeniedError("Only an administrator can make a policy automatic without a track record.")
        return f"made automatic by an administrator without a track record: {reason.strip()}"
    raise DomainError(
        f"{policy.name!r} has {len(evidence)} of the {need} dry or approved runs that matched a repair that "
        "helped: keep it in dry run to gather them (replay it to see what it would do), or, as an administrator, "
        "give promotion_reason."
    )
