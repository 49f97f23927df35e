"""The circuit breaker of each component: closed → open → half-open → closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from core314.changes import record_change
from core314.services import DomainError
from core314.tenancy import Actor
from health.models import Component
from recovery.models import BreakerState, CircuitBreaker


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
    record_change(
        actor=actor,
        system_label=label,
        action=f"circuit_breaker.{new}",
        target=breaker,
        before={"state": before},
        after={"state": new, "cooldown_s": breaker.cooldown_s},
        reason=reason,
        event="circuit_breaker.changed",
        data={"state": new},
    )


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
            breaker = CircuitBreaker.objects.select_for_update().filter(pk=breaker_id, state=BreakerState.OPEN).first()
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
