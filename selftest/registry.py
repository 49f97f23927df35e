"""The self-test registry: each check has a name, a category, a timeout and a function returning an Outcome.

Checks are plain functions registered with ``@check(...)``; ``selftest.checks`` holds the platform's own. A
check that raises is an ``error``; one that runs past its timeout is cut off and reported as ``error`` (its
thread is abandoned: Python cannot kill a thread, so checks use their own socket timeouts as well).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CATEGORIES = ("infrastructure", "api", "detection", "recovery", "security", "fire_drill")


@dataclass
class Outcome:
    result: str  # pass / warn / fail / error / skipped
    score: float  # 0..100
    message: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    name: str
    category: str
    timeout_s: float
    func: Callable[[], Outcome]
    description: str = ""


REGISTRY: dict[str, Check] = {}


def check(name: str, category: str, timeout_s: float = 5.0) -> Callable[[Callable[[], Outcome]], Callable[[], Outcome]]:
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}")

    def register(func: Callable[[], Outcome]) -> Callable[[], Outcome]:
        REGISTRY[name] = Check(name, category, timeout_s, func, (func.__doc__ or "").strip().split("\n")[0])
        return func

    return register


def checks_in(categories: list[str] | None = None) -> list[Check]:
    import selftest.checks  # noqa: F401 -- registers the platform's checks

    chosen = [c for c in REGISTRY.values() if not categories or c.category in categories]
    return sorted(chosen, key=lambda c: (CATEGORIES.index(c.category), c.name))


def run_check(item: Check) -> tuple[Outcome, float]:
    """Run one check with its timeout; returns the outcome and its duration in milliseconds."""
    box: dict[str, Any] = {}

    def target() -> None:
        from django.db import connections

        try:
            box["outcome"] = item.func()
        except Exception as exc:  # a broken check is reported, never allowed to stop the suite
            box["outcome"] = Outcome("error", 0.0, f"{type(exc).__name__}: {exc}"[:500])
        finally:
            connections.close_all()  # this thread's own connections

    started = time.perf_counter()
    worker = threading.Thread(target=target, name=f"selftest-{item.name}", daemon=True)
    worker.start()
    worker.join(item.timeout_s)
    took = (time.perf_counter() - started) * 1000
    if worker.is_alive():
        return Outcome("error", 0.0, f"timed out after {item.timeout_s:g} s"), took
    return box["outcome"], took
