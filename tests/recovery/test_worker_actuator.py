"""The Celery actuator grows, shrinks and restarts the pool of a real worker the test starts."""

from __future__ import annotations

import time
from typing import Any

import pytest

from recovery.executors.workers import WorkerPoolAction, pool_sizes
from tests.processes import celery_worker

pytestmark = pytest.mark.django_db(transaction=True)


def _context(hostname: str) -> dict[str, Any]:
    return {"component": "core314-worker", "actuator": {"kind": "celery", "config": {"destinations": [hostname]}}}


def _wait_for(hostname: str, size: int) -> int:
    deadline = time.monotonic() + 15
    seen = -1
    while time.monotonic() < deadline:
        seen = pool_sizes([hostname]).get(hostname, -1)
        if seen == size:
            break
        time.sleep(0.2)
    return seen


def test_the_pool_grows_shrinks_and_restarts() -> None:
    with celery_worker(concurrency=1) as worker:
        host = worker.hostname
        assert _wait_for(host, 1) == 1

        plan = WorkerPoolAction("scale_up").plan({"by": 2}, _context(host))
        assert plan.steps == [f"add 2 pool process(es) to {host} (Celery remote control)"]
        assert _wait_for(host, 1) == 1  # the dry run changed nothing

        grow = WorkerPoolAction("scale_up")
        result = grow.execute(grow.clean({"by": 2}), _context(host), timeout_s=5)
        assert result.ok, result.summary
        assert _wait_for(host, 3) == 3

        shrink = WorkerPoolAction("scale_down")
        result = shrink.execute(shrink.clean({"by": 1}), _context(host), timeout_s=5)
        assert result.ok, result.summary
        assert _wait_for(host, 2) == 2

        before = set(pool_pids(host))
        restart = WorkerPoolAction("restart_function")
        result = restart.execute({}, _context(host), timeout_s=5)
        assert result.ok, result.summary
        # Billiard replaces pool processes as each one picks up its stop sentinel: wait for the first new one.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and set(pool_pids(host)) <= before:
            time.sleep(0.2)
        assert set(pool_pids(host)) - before, "no pool process was replaced"


def pool_pids(hostname: str) -> list[int]:
    from core314.celery import app

    stats = app.control.inspect(destination=[hostname], timeout=2).stats() or {}
    return list(stats.get(hostname, {}).get("pool", {}).get("processes", []))


def test_no_worker_answering_is_a_failure_not_a_success() -> None:
    action = WorkerPoolAction("scale_up")
    result = action.execute({"by": 1}, _context("nobody@nowhere"), timeout_s=1)
    assert not result.ok and result.summary == "no worker answered"
