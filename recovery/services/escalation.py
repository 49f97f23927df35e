"""Escalation: whom to tell (per component, or the owner's default) and the escalate helper every step uses
when healing cannot or did not help."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.db.models import Q

from anomalies.models import AnomalySignal
from core314 import egress
from core314.changes import record_change
from core314.services import DomainError, FieldError
from core314.tenancy import Actor
from health.models import Component
from recovery.models import ActionMode, ActionType, EscalationTarget, RecoveryAction, RecoveryPolicy
from recovery.services.actions import action_create

ESCALATION_QUIET = timedelta(minutes=10)


@transaction.atomic
def escalation_target_save(
    *,
    actor: Actor,
    owner: Any,
    component: Component | None = None,
    emails: list[str] | None = None,
    slack_webhook_url: str = "",
    pagerduty_url: str = "",
    pagerduty_routing_key: str = "",
) -> EscalationTarget:
    """Create or replace who is told on escalation (for a component, or the owner's default)."""
    emails = emails or []
    for address in emails:
        try:
            validate_email(address)
        except ValidationError:
            raise DomainError(f"{address!r} is not an e-mail address.") from None
    policy = egress.policy_for(privileged=egress.save_privileged(actor=actor, owner=owner))
    for name, url in (("slack_webhook_url", slack_webhook_url), ("pagerduty_url", pagerduty_url)):
        if url:
            try:
                URLValidator(schemes=["http", "https"])(url)
            except ValidationError:
                raise FieldError(name, "must be an http(s) URL.") from None
            try:
                policy.check("http", url)
            except egress.EgressRefused as exc:
                raise FieldError(name, str(exc)) from exc
    if bool(pagerduty_url) != bool(pagerduty_routing_key):
        raise DomainError("PagerDuty needs both pagerduty_url and pagerduty_routing_key.")
    target, _ = EscalationTarget.objects.select_for_update().get_or_create(owner=owner, component=component)
    target.emails = emails
    target.slack_webhook_url = slack_webhook_url
    target.pagerduty_url = pagerduty_url
    target.pagerduty_routing_key = pagerduty_routing_key
    target.save()
    record_change(
        actor=actor,
        action="escalation_target.save",
        target=target,
        after={"emails": len(emails), "slack": bool(slack_webhook_url), "pagerduty": bool(pagerduty_url)},
    )
    return target


def escalation_target_for(component: Component) -> EscalationTarget | None:
    """The component's own target, else its owner's default (a system read for the executor)."""
    return (
        EscalationTarget.objects.filter(component=component).first()
        or EscalationTarget.objects.filter(owner_id=component.owner_id, component__isnull=True).first()
    )


def escalate(
    component: Component,
    signal: AnomalySignal | None,
    reason: str,
    now: datetime,
    policy: RecoveryPolicy | None = None,
    *,
    storm: bool = False,
) -> RecoveryAction | None:
    """Tell people (automatic, whatever the policy's mode: it changes nothing), once per incident (or signal)
    and reason, and not again for the same reason on the same component within ESCALATION_QUIET: a burst of
    signals pages once."""
    if storm:
        # Many components at once (the blast-radius guard, the healing budget): one page for the owner, not one
        # per component.
        paged = RecoveryAction.objects.filter(
            owner_id=component.owner_id, action_type=ActionType.ALERT_ESCALATION, parameters__storm=True,
            created_at__gte=now - ESCALATION_QUIET,
        )  # fmt: skip
        if paged.exists():
            return None
    sent = RecoveryAction.objects.filter(component=component, action_type=ActionType.ALERT_ESCALATION)
    same = Q(reason=reason[:1000], created_at__gte=now - ESCALATION_QUIET)
    if signal is not None:
        same |= Q(signal=signal, reason=reason[:1000])
        if signal.incident is not None:
            same |= Q(incident_id=signal.incident_id, episode=signal.incident.episode, reason=reason[:1000])
    if sent.filter(same).exists():
        return None
    return action_create(
        component=component,
        signal=signal,
        policy=policy,
        step=0,
        action_type=ActionType.ALERT_ESCALATION,
        parameters={"note": reason[:1000], **({"storm": True} if storm else {})},
        mode=ActionMode.AUTOMATIC,
        reason=reason,
        now=now,
    )
