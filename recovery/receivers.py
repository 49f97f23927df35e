"""What healing does when other steps of the loop announce something (connected in ``apps.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.dispatch import receiver

from anomalies.signals import anomaly_raised, deviation_opening
from core314.signals import user_created
from health.signals import probe_outcomes_recorded, probes_due


@receiver(probes_due, dispatch_uid="recovery.gate_probes")
def gate_probes(sender: Any, component_ids: list[int], now: datetime, **kwargs: Any) -> dict[int, str]:
    """Probes respect circuit breakers: none against an open breaker; in half-open they are the trials."""
    from recovery.services import breakers_gate

    return breakers_gate(component_ids=component_ids, now=now)


@receiver(probe_outcomes_recorded, dispatch_uid="recovery.record_trials")
def record_trials(
    sender: Any, outcomes: list[tuple[int, bool]], trials: set[int], now: datetime | None = None, **kwargs: Any
) -> None:
    from recovery.services import breaker_record_trial

    for component_id, ok in outcomes:
        if component_id in trials:
            breaker_record_trial(component_id=component_id, ok=ok, now=now)


@receiver(anomaly_raised, dispatch_uid="recovery.enqueue_healing")
def enqueue_healing(sender: Any, signal_id: int, **kwargs: Any) -> None:
    """A signal opened or got worse (after commit): decide for it now, not at the next scan."""
    from recovery.tasks import heal

    heal.delay(signal_id)


@receiver(deviation_opening, dispatch_uid="recovery.absorb_aftermath")
def absorb_aftermath(
    sender: Any, component_id: int, kind: str, metric: str, value: float, expected: float, at: datetime, **kwargs: Any
) -> int | None:
    """A deviation the platform's own restart, scale or rollback just caused is that action's aftermath."""
    from recovery.services import action_aftermath_record

    return action_aftermath_record(
        component_id=component_id, kind=kind, metric=metric, value=value, expected=expected, at=at
    )


@receiver(user_created, dispatch_uid="recovery.default_policies")
def default_policies(sender: Any, user: Any, **kwargs: Any) -> None:
    """A new person starts with sensible healing policies (service accounts act with their owner's)."""
    from recovery.services import policies_ensure_defaults

    policies_ensure_defaults(owner=user)
