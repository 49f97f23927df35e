from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ParameterError(ValueError):
    """Bad parameters for an executor; the message names the parameter."""


@dataclass
class Plan:
    """Exactly what would happen, step by step, without doing any of it (the dry run)."""

    action_type: str
    steps: list[str]
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"action_type": self.action_type, "steps": self.steps, "details": self.details}


@dataclass
class Result:
    ok: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "summary": self.summary, "details": self.details, "duration_ms": self.duration_ms}


class Executor(Protocol):
    action_type: str

    def clean(self, params: dict[str, Any]) -> dict[str, Any]: ...

    def plan(self, params: dict[str, Any], context: dict[str, Any]) -> Plan: ...

    def execute(self, params: dict[str, Any], context: dict[str, Any], *, timeout_s: float) -> Result: ...
