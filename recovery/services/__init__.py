"""Self-healing. So far: the circuit breaker of each component (closed → open → half-open → closed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from core314.audit import audit_record
from core314.live import publish_on_commit
from core314.services import DomainError, PermissionDeniedError
from core314.tenancy import Actor
from health.models import Component
from recovery.models import Actuator, BreakerState, CircuitBreaker, EscalationTarget


@dataclass
class BreakerView:
    """What a client needs to know before calling a component."""

    component_id: int
    component: str
    state: str
    allow: bool
    retry_after_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _locked(component: Component) -> CircuitBreaker:
    breaker, _ = CircuitBreaker.objects.select_for_update().get_or_create(
        component=component, defaults={"owner_id": component.owner_id}
    )
    return breaker


def _transition(
    breaker: CircuitBreaker, new: str, *, actor: Actor, reason: str, now: datetime, label: str = "breaker"
) -> None:
    before = breaker.effective_state(now)
    breaker.state = new
    breaker.reason = reason[:300]
    breaker.save()
    audit_record(
        actor=actor,
        system_label=label,
        action=f"circuit_breaker.{new}",
        target=breaker,
        before={"state": before},
        after={"state": new, "cooldown_s": breaker.cooldown_s},
        reason=reason,
    )
    publish_on_commit(row=breaker, event="circuit_breaker.changed", data={"state": new})


@transaction.atomic
def breaker_open(*, actor: Actor, component: Component, reason: str, cooldown_s: int | None = None) -> CircuitBreaker:
    """Refuse calls to ``component`` for a cooldown, after which trial calls decide."""
    now = timezone.now()
    breaker = _locked(component)
    if cooldown_s is not None:
        if not 1 <= cooldown_s <= 86_400:
            raise DomainError("cooldown_s must be between 1 and 86400 seconds.")
        breaker.base_cooldown_s = breaker.cooldown_s = cooldown_s
    breaker.opened_at = now
    breaker.half_open_at = now + timedelta(seconds=breaker.cooldown_s)
    breaker.trial_passed = 0
    breaker.times_opened += 1
    _transition(breaker, BreakerState.OPEN, actor=actor, reason=reason or "opened", now=now)
    return breaker


@transaction.atomic
def breaker_close(*, actor: Actor, component: Component, reason: str = "") -> CircuitBreaker:
    now = timezone.now()
    breaker = _locked(component)
    breaker.cooldown_s = breaker.base_cooldown_s
    breaker.trial_passed = 0
    breaker.half_open_at = None
    _transition(breaker, BreakerState.CLOSED, actor=actor, reason=reason or "closed by hand", now=now)
    return breaker


@transaction.atomic
def breaker_record_trial(*, component_id: int, ok: bool, now: datetime | None = None) -> CircuitBreaker | None:
    """A call made while half-open: enough successes close the breaker; one failure reopens it, longer."""
    now = now or timezone.now()
    breaker = CircuitBreaker.objects.select_for_update().filter(component_id=component_id).first()
    if breaker is None or breaker.effective_state(now) != BreakerState.HALF_OPEN:
        return breaker
    if ok:
        breaker.trial_passed += 1
        if breaker.trial_passed >= breaker.trial_successes:
            breaker.cooldown_s = breaker.base_cooldown_s
            breaker.half_open_at = None
            breaker.trial_passed = 0
            _transition(breaker, BreakerState.CLOSED, actor=None, reason="trial calls succeeded", now=now)
        else:
            breaker.state = BreakerState.HALF_OPEN
            breaker.save(update_fields=["state", "trial_passed", "updated_at"])
        return breaker
    # Back off: each failed trial doubles the wait, up to the cap (as Kubernetes does for crash loops).
    breaker.cooldown_s = min(breaker.cooldown_s * 2, breaker.max_cooldown_s)
    breaker.opened_at = now
    breaker.half_open_at = now + timedelta(seconds=breaker.cooldown_s)
    breaker.trial_passed = 0
    breaker.times_opened += 1
    _transition(breaker, BreakerState.OPEN, actor=None, reason="a trial call failed", now=now)
    return breaker


def breakers_promote(*, now: datetime) -> int:
    """Open breakers whose cooldown has passed become half-open in the table too (the page shows it)."""
    promoted = 0
    due = CircuitBreaker.objects.filter(state=BreakerState.OPEN, half_open_at__lte=now)
    for breaker_id in due.values_list("pk", flat=True)[:200]:
        with transaction.atomic():
            breaker = CircuitBreaker.objects.select_for_update().filter(pk=breaker_id, state=BreakerState.OPEN)
            breaker = breaker.first()
            if breaker is not None:
                breaker.trial_passed = 0
                _transition(breaker, BreakerState.HALF_OPEN, actor=None, reason="cooldown over: trial calls", now=now)
                promoted += 1
    return promoted


def breaker_view(breaker: CircuitBreaker | None, component: Component, now: datetime | None = None) -> BreakerView:
    now = now or timezone.now()
    if breaker is None:
        return BreakerView(component.pk, component.name, BreakerState.CLOSED, True, None)
    state = breaker.effective_state(now)
    retry = None
    if state == BreakerState.OPEN and breaker.half_open_at is not None:
        retry = max(0.0, (breaker.half_open_at - now).total_seconds())
    return BreakerView(component.pk, component.name, state, state != BreakerState.OPEN, retry)


def breakers_gate(*, component_ids: list[int], now: datetime) -> dict[int, str]:
    """For the probe runner: ``open`` components are skipped, ``half_open`` ones run as trials."""
    gate = {}
    for breaker in CircuitBreaker.objects.filter(component_id__in=component_ids).exclude(state=BreakerState.CLOSED):
        gate[breaker.component_id] = breaker.effective_state(now)
    return gate


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
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator, validate_email

    emails = emails or []
    for address in emails:
        try:
            validate_email(address)
        except ValidationError:
            raise DomainError(f"{address!r} is not an e-mail address.") from None
    for name, url in (("slack_webhook_url", slack_webhook_url), ("pagerduty_url", pagerduty_url)):
        if url:
            try:
                URLValidator(schemes=["http", "https"])(url)
            except ValidationError:
                raise DomainError(f"{name} must be an http(s) URL.") from None
    if bool(pagerduty_url) != bool(pagerduty_routing_key):
        raise DomainError("PagerDuty needs both pagerduty_url and pagerduty_routing_key.")
    target, _ = EscalationTarget.objects.select_for_update().get_or_create(owner=owner, component=component)
    target.emails = emails
    target.slack_webhook_url = slack_webhook_url
    target.pagerduty_url = pagerduty_url
    target.pagerduty_routing_key = pagerduty_routing_key
    target.save()
    audit_record(
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


@transaction.atomic
def actuator_save(*, actor: Actor, component: Component, kind: str, config: Any, enabled: bool = True) -> Actuator:
    """Configure how the platform acts on a component (validated per kind; some kinds are admin-only)."""
    from core314.tenancy import is_admin
    from recovery.actuators import ADMIN_ONLY_KINDS, ActuatorConfigError, clean_config, redacted

    if kind in ADMIN_ONLY_KINDS and not is_admin(actor):
        raise PermissionDeniedError(f"Only administrators configure {kind} actuators: they run code on this machine.")
    try:
        cleaned = clean_config(kind, config)
    except ActuatorConfigError as exc:
        raise DomainError(str(exc)) from exc
    actuator, created = Actuator.objects.select_for_update().get_or_create(
        component=component, kind=kind, defaults={"owner_id": component.owner_id, "config": cleaned}
    )
    before = None if created else redacted(kind, actuator.config)
    actuator.config = cleaned
    actuator.enabled = enabled
    actuator.save()
    audit_record(
        actor=actor,
        action="actuator.save",
        target=actuator,
        before=before,
        after={"kind": kind, "enabled": enabled, "config": redacted(kind, cleaned)},
    )
    return actuator


@transaction.atomic
def deployment_record(
    *, actor: Actor, component: Component, version: str, spec: Any = None, known_good: bool | None = None
) -> Any:
    """Record that ``version`` now runs on ``component`` (deploy tools call this; process switches do it too)."""
    from recovery.models import Deployment

    if not isinstance(version, str) or not 0 < len(version.strip()) <= 64:
        raise DomainError("version must be a non-empty string of at most 64 characters.")
    if spec is not None and not isinstance(spec, dict):
        raise DomainError("spec must be a JSON object.")
    deployment = Deployment.objects.create(
        owner_id=component.owner_id,
        component=component,
        version=version.strip(),
        spec=spec or {},
        known_good=known_good,
        deployed_by=getattr(actor, "username", "") or "system",
    )
    audit_record(actor=actor, action="deployment.record", target=deployment, after={"version": deployment.version})
    return deployment


def process_control(
    *, actor: Actor, actuator: Actuator, operation: str, version: str = "", replicas: int | None = None
) -> dict[str, Any]:
    """Start, stop or deploy (switch version) a supervised process; administrators only."""
    from core314.tenancy import is_admin
    from recovery import supervisor
    from recovery.models import Deployment

    if not is_admin(actor):
        raise PermissionDeniedError("Only administrators start and stop processes.")
    if actuator.kind != "process":
        raise DomainError("This actuator does not supervise a process.")
    if operation not in {"start", "stop", "restart", "deploy", "status"}:
        raise DomainError("operation must be start, stop, restart, deploy or status.")
    state = actuator.state or {}
    if operation == "status":
        return supervisor.describe(state)
    config = actuator.config
    current = state.get("version") or config["version"]
    target = version or current
    if target not in config["versions"]:
        raise DomainError(f"version {target!r} is not configured.")
    count = config["replicas"] if replicas is None else replicas
    if operation == "stop":
        count = 0
    elif not 1 <= count <= config["max_replicas"]:
        raise DomainError(f"replicas must be from 1 to {config['max_replicas']}.")
    with transaction.atomic():
        locked = Actuator.objects.select_for_update().get(pk=actuator.pk)
        try:
            new_state, done = supervisor.converge(
                config,
                locked.state or {},
                version=target,
                replicas=count,
                name=f"{locked.component_id}-{locked.component.name}"[:60],
                restart=operation in {"deploy", "restart"},
            )
        except supervisor.SupervisorError as exc:
            raise DomainError(str(exc)) from exc
        locked.state = new_state
        locked.save(update_fields=["state", "updated_at"])
        first_start = not Deployment.objects.filter(component_id=locked.component_id).exists()
        if operation == "deploy" or (operation == "start" and (target != current or first_start)):
            Deployment.objects.create(
                owner_id=locked.owner_id,
                component_id=locked.component_id,
                version=target,
                spec=config["versions"][target],
                deployed_by=getattr(actor, "username", ""),
            )
        audit_record(
            actor=actor, action=f"process.{operation}", target=locked, after={"version": target, "replicas": count},
            reason="; ".join(done)[:1000],
        )  # fmt: skip
        publish_on_commit(row=locked, event="actuator.changed", data={"operation": operation})
    return {**supervisor.describe(new_state), "steps": done}
