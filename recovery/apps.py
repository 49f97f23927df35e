from typing import Any

from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = "Self-healing"

    def ready(self) -> None:
        from health.signals import probe_outcomes_recorded, probes_due

        probes_due.connect(_gate_probes, dispatch_uid="recovery.gate_probes")
        probe_outcomes_recorded.connect(_record_trials, dispatch_uid="recovery.record_trials")


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
