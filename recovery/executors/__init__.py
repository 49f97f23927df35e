"""Recovery executors: each validates its parameters, plans without side effects, and executes with a
timeout, returning a structured result. The engine (policies, approvals, safety limits) calls them.

Which executor runs an action depends on the action and on how the component is acted on (its actuator).
"""

from __future__ import annotations

from recovery.executors.base import Executor, ParameterError
from recovery.executors.breaker import CircuitBreakerAction
from recovery.executors.data import ClearCache, ResetConnection
from recovery.executors.escalation import AlertEscalation
from recovery.executors.process import PROCESS_ACTIONS, ProcessAction
from recovery.executors.webhook import WEBHOOK_ACTIONS, WebhookAction
from recovery.executors.workers import WORKER_ACTIONS, WorkerPoolAction

# action → actuator kinds that can carry it, in order of preference; empty: needs no actuator.
ACTUATORS_FOR = {
    "restart_function": ("process", "celery", "webhook"),
    "scale_up": ("process", "celery", "webhook"),
    "scale_down": ("process", "celery", "webhook"),
    "rollback_deployment": ("process", "webhook"),
    "clear_cache": ("cache",),
    "reset_connection": ("postgres",),
    "circuit_breaker": (),
    "alert_escalation": (),
}


def executor_for(action_type: str, actuator_kind: str | None) -> Executor:
    """The executor for an action on an actuator kind; ParameterError names what is missing."""
    if action_type not in ACTUATORS_FOR:
        raise ParameterError(f"unknown action {action_type!r}")
    kinds = ACTUATORS_FOR[action_type]
    if not kinds:
        return CircuitBreakerAction() if action_type == "circuit_breaker" else AlertEscalation()
    if actuator_kind not in kinds:
        raise ParameterError(
            f"{action_type} needs a {' or '.join(kinds)} actuator on the component"
            + (f" (it has {actuator_kind})" if actuator_kind else " (it has none)")
        )
    if actuator_kind == "process" and action_type in PROCESS_ACTIONS:
        return ProcessAction(action_type)
    if actuator_kind == "celery" and action_type in WORKER_ACTIONS:
        return WorkerPoolAction(action_type)
    if actuator_kind == "webhook" and action_type in WEBHOOK_ACTIONS:
        return WebhookAction(action_type)
    return ClearCache() if action_type == "clear_cache" else ResetConnection()


__all__ = ["ACTUATORS_FOR", "Executor", "ParameterError", "executor_for"]
