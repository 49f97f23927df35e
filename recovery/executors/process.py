"""``restart_function``, ``scale_up``, ``scale_down`` and ``rollback_deployment`` on a supervised local process.

The context carries the actuator (``kind``, ``config``, ``state``) and, for rollback, ``rollback_to`` (the last
version known to be healthy, found by the engine from the deployment history). ``execute`` returns the new
``state`` in its details; the engine stores it.
"""

from __future__ import annotations

import time
from typing import Any

from core314.redact import redact
from recovery import supervisor
from recovery.executors.base import ParameterError, Plan, Result

PROCESS_ACTIONS = ("restart_function", "scale_up", "scale_down", "rollback_deployment")


class ProcessAction:
    def __init__(self, action_type: str) -> None:
        if action_type not in PROCESS_ACTIONS:
            raise ValueError(f"{action_type} does not act on a process")
        self.action_type = action_type

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.action_type in {"scale_up", "scale_down"}:
            if "replicas" in params:
                value = params["replicas"]
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
                    raise ParameterError("replicas must be a whole number from 0 to 64")
                return {"replicas": value}
            by = params.get("by", 1)
            if isinstance(by, bool) or not isinstance(by, int) or not 1 <= by <= 64:
                raise ParameterError("by must be a whole number from 1 to 64")
            return {"by": by}
        if self.action_type == "rollback_deployment":
            version = params.get("to_version", "")
            if not isinstance(version, str) or len(version) > 64:
                raise ParameterError("to_version must be a version name")
            return {"to_version": version}
        return {}

    def _target(self, params: dict[str, Any], context: dict[str, Any]) -> tuple[str, int, bool]:
        """(version, replicas, restart all) this action leads to."""
        config = context["actuator"]["config"]
        state = context["actuator"].get("state") or {}
        version = state.get("version") or config["version"]
        current = state.get("desired", config["replicas"])
        if self.action_type == "restart_function":
            return version, max(current, 1), True
        if self.action_type in {"scale_up", "scale_down"}:
            sign = 1 if self.action_type == "scale_up" else -1
            wanted = params.get("replicas", current + sign * params.get("by", 1))
            if not 1 <= wanted <= config["max_replicas"]:
                raise ParameterError(f"{wanted} replicas is outside 1..{config['max_replicas']}")
            return version, wanted, False
        target = params.get("to_version") or context.get("rollback_to") or ""
        if not target:
            raise ParameterError("no earlier version is known to be healthy; give to_version")
        if target not in config["versions"]:
            raise ParameterError(f"version {target!r} is not configured for this process")
        if target == version:
            raise ParameterError(f"{target!r} is already running")
        return target, max(current, 1), True

    def plan(self, params: dict[str, Any], context: dict[str, Any]) -> Plan:
        state = context["actuator"].get("state") or {}
        version, replicas, restart = self._target(params, context)
        now = supervisor.describe(state)
        steps = []
        if restart:
            pids = now["pids"] or "none"
            steps.append(f"stop {now['replicas']} running replica(s) (pids {pids}): SIGTERM, then SIGKILL")
            steps.append(f"start {replicas} replica(s) of version {version}")
        elif replicas > now["replicas"]:
            steps.append(f"start {replicas - now['replicas']} more replica(s) of {version} (to {replicas})")
        else:
            steps.append(f"stop {now['replicas'] - replicas} replica(s) (to {replicas})")
        # Shown to people and written to the audit log: secrets in the command line (--password=…) removed.
        argv = [redact(arg, limit=300) for arg in context["actuator"]["config"]["versions"][version]["argv"]]
        return Plan(self.action_type, steps, {"version": version, "replicas": replicas, "argv": argv, "now": now})

    def execute(self, params: dict[str, Any], context: dict[str, Any], *, timeout_s: float) -> Result:
        started = time.perf_counter()
        actuator = context["actuator"]
        version, replicas, restart = self._target(params, context)
        before = supervisor.describe(actuator.get("state") or {})
        try:
            state, done = supervisor.converge(
                actuator["config"],
                actuator.get("state") or {},
                version=version,
                replicas=replicas,
                name=context.get("component_slug") or "component",
                restart=restart,
            )
        except (supervisor.SupervisorError, OSError) as exc:
            return Result(False, f"{type(exc).__name__}: {exc}"[:300], {"before": before}, _ms(started))
        after = supervisor.describe(state)
        summary = f"{after['replicas']} replica(s) of {version} running (pids {', '.join(map(str, after['pids']))})"
        details = {"before": before, "after": after, "steps": done, "state": state, "version": version}
        return Result(after["replicas"] == replicas, summary, details, _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
