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
        config = context["actuator"]["config"]
        version, replicas, restart = self._target(params, context)
        now = supervisor.describe(state)
        steps = []
        if restart:
            size = supervisor.max_unavailable(config, max(len(state.get("replicas", [])), 1))
            if self.action_type == "restart_function":
                steps.append(
                    "restart only the replicas that exited or do not answer their probe; if every replica answers, "
                    "restart them all"
                )
            else:
                steps.append(f"replace the {now['replicas']} running replica(s) (pids {now['pids'] or 'none'})")
            steps.append(
                f"{size} at a time at most, with version {version}, the next only after the last answers its probe"
            )
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
        config = actuator["config"]
        version, replicas, restart = self._target(params, context)
        state = actuator.get("state") or {}
        before = supervisor.describe(state)
        name = context.get("component_slug") or "component"
        ready = True
        try:
            if restart:
                state, done, ready = self._replace(config, state, version=version, replicas=replicas, name=name)
            else:
                state, done = supervisor.converge(config, state, version=version, replicas=replicas, name=name)
        except (supervisor.SupervisorError, OSError) as exc:
            return Result(False, f"{type(exc).__name__}: {exc}"[:300], {"before": before}, _ms(started))
        after = supervisor.describe(state)
        summary = f"{after['replicas']} replica(s) of {version} running (pids {', '.join(map(str, after['pids']))})"
        details = {"before": before, "after": after, "steps": done, "state": state, "version": version}
        return Result(ready and after["replicas"] == replicas, summary, details, _ms(started))

    def _replace(
        self, config: dict[str, Any], state: dict[str, Any], *, version: str, replicas: int, name: str
    ) -> tuple[dict[str, Any], list[str], bool]:
        """Missing replicas started, then a rolling replacement: for a restart only the replicas that exited or
        fail their probe (a one-replica fault stays a one-replica fault), else all of them; for a rollback
        every replica, to the other version."""
        before = {(e["replica"], e["pid"]) for e in state.get("replicas", [])}
        current = state.get("version") or version
        state, done = supervisor.converge(config, state, version=current, replicas=replicas, name=name)
        respawned = [e for e in state["replicas"] if (e["replica"], e["pid"]) not in before]
        ready = all(supervisor.wait_ready(config, entry) for entry in respawned)
        only: set[int] | None = None
        if self.action_type == "restart_function":
            fresh = {e["replica"] for e in respawned}
            sick = {e["replica"] for e in supervisor.failing(config, state)} - fresh
            if fresh or sick:
                only = sick  # the healthy ones keep answering throughout
        state, more, rolled = supervisor.rolling_replace(config, state, version=version, name=name, only=only)
        return state, done + more, ready and rolled


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
