"""``circuit_breaker``: open the component's breaker, so clients and probes stop calling it for a while."""

from __future__ import annotations

import time
from typing import Any

from recovery.executors.base import ParameterError, Plan, Result


class CircuitBreakerAction:
    action_type = "circuit_breaker"

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        cooldown = params.get("cooldown_s", 30)
        if isinstance(cooldown, bool) or not isinstance(cooldown, int) or not 1 <= cooldown <= 86_400:
            raise ParameterError("cooldown_s must be a whole number of seconds from 1 to 86400")
        return {"cooldown_s": cooldown}

    def plan(self, params: dict[str, Any], context: dict[str, Any]) -> Plan:
        return Plan(
            self.action_type,
            [
                f"open the circuit breaker of {context.get('component')}: calls refused for {params['cooldown_s']} s",
                "then half-open: trial calls close it, a failed trial reopens it with the wait doubled",
            ],
            {"cooldown_s": params["cooldown_s"]},
        )

    def execute(self, params: dict[str, Any], context: dict[str, Any], *, timeout_s: float) -> Result:
        from health.models import Component
        from recovery.services import breaker_open

        started = time.perf_counter()
        component = Component.objects.get(pk=context["component_id"])
        reason = f"opened by recovery action #{context.get('action_id')}"
        breaker = breaker_open(actor=None, component=component, reason=reason, cooldown_s=params["cooldown_s"])
        opened_until = breaker.half_open_at  # set by breaker_open
        details = {"state": breaker.state, "half_open_at": opened_until.isoformat() if opened_until else None}
        took = (time.perf_counter() - started) * 1000
        return Result(True, f"breaker open for {params['cooldown_s']} s", details, took)
