from typing import Any

from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = "Self-healing"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        from anomalies.signals import anomaly_raised
        from health.signals import probe_outcomes_recorded, probes_due

        probes_due.connect(_gate_probes, dispatch_uid="recovery.gate_probes")
        probe_outcomes_recorded.connect(_record_trials, dispatch_uid="recovery.record_trials")
        anomaly_raised.connect(_enqueue_healing, dispatch_uid="recovery.enqueue_healing")
        post_save.connect(_default_policies, sender=get_user_model(), dispatch_uid="recovery.default_policies")


def _gate_probes(sender: Any, component_ids: list[int], now: Any, **kwargs: Any) -> dict[int, str]:
    """Probes respect circuit breakers: none against an open breaker; in half-open they are the trials."""
    from recovery.services import breakers_gate

    return breakers_gate(component_ids=component_ids, now=now)


def _record_trials(
    sender: Any, outcomes: list[tuple[int, bool]], trials: set[int], now: Any = None, **kwargs: Any
) -> None:
    from recovery.services import breaker_record_trial

    for component_id, ok in outcomes:
        if component_id in trials:
            breaker_record_trial(component_id=component_id, ok=ok, now=now)


def _enqueue_healing(sender: Any, signal_id: int, **kwargs: Any) -> None:
    """A signal opened or got worse (after commit): decide for it now, not at the next scan."""
    from recovery.tasks import heal

    heal.delay(signal_id)


def _default_policies(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """New users start with sensible healing policies (service accounts act for their owner's)."""
    if created and not raw and not instance.username.startswith("sa-"):
        from recovery.services.healing import policies_ensure_defaults

        policies_ensure_defaults(owner=instance)
