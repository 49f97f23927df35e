"""``restart_function``, ``scale_up`` and ``scale_down`` on the platform's own Celery workers, through Celery's
remote control (``pool_restart``, ``pool_grow``, ``pool_shrink``), answered by each worker."""

from __future__ import annotations

import time
from typing import Any

from recovery.executors.base import ParameterError, Plan, Result

WORKER_ACTIONS = ("restart_function", "scale_up", "scale_down")


def _app() -> Any:
    from core314.celery import app

    return app


def _destination(context: dict[str, Any]) -> list[str] | None:
    return context["actuator"]["config"].get("destinations") or None


def pool_sizes(destination: list[str] | None, timeout_s: float = 2.0) -> dict[str, int]:
    """Each answering worker's pool size (read only)."""
    stats = _app().control.inspect(destination=destination, timeout=timeout_s).stats() or {}
    return {name: len(info.get("pool", {}).get("processes", [])) for name, info in stats.items()}


class WorkerPoolAction:
    def __init__(self, action_type: str) -> None:
        if action_type not in WORKER_ACTIONS:
            raise ValueError(f"{action_type} does not act on Celery workers")
        self.action_type = action_type

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.action_type == "restart_function":
            return {}
        by = params.get("by", 1)
        if isinstance(by, bool) or not isinstance(by, int) or not 1 <= by <= 16:
            raise ParameterError("by must be a whole number from 1 to 16")
        return {"by": by}

    def plan(self, params: dict[str, Any], context: dict[str, Any]) -> Plan:
        destination = _destination(context)
        who = ", ".join(destination) if destination else "every worker"
        verb = {
            "restart_function": "restart the pool processes of",
            "scale_up": f"add {params.get('by')} pool process(es) to",
            "scale_down": f"remove {params.get('by')} pool process(es) from",
        }[self.action_type]
        return Plan(self.action_type, [f"{verb} {who} (Celery remote control)"], {"destination": destination})

    def execute(self, params: dict[str, Any], context: dict[str, Any], *, timeout_s: float) -> Result:
        started = time.perf_counter()
        destination = _destination(context)
        control = _app().control
        before = pool_sizes(destination, timeout_s=min(2.0, timeout_s))
        if not before:
            return Result(False, "no worker answered", {}, _ms(started))
        if self.action_type == "restart_function":
            replies = control.pool_restart(destination=destination, reply=True, timeout=timeout_s)
        elif self.action_type == "scale_up":
            replies = control.pool_grow(params["by"], destination=destination, reply=True, timeout=timeout_s)
        else:
            replies = control.pool_shrink(params["by"], destination=destination, reply=True, timeout=timeout_s)
        answers = {name: reply for item in replies or [] for name, reply in item.items()}
        failed = {name: reply for name, reply in answers.items() if "ok" not in reply}
        after = pool_sizes(destination, timeout_s=min(2.0, timeout_s))
        ok = bool(answers) and not failed
        summary = f"{len(answers)} worker(s) answered" + (f", {len(failed)} refused" if failed else "")
        return Result(ok, summary, {"before": before, "after": after, "answers": answers}, _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
