"""The process actuator acts on real processes: restart gives new PIDs, scale changes the replica count,
rollback returns to the last version known to be healthy; every dry run leaves the processes alone."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from recovery import supervisor
from recovery.actuators import ActuatorConfigError, clean_config
from recovery.executors.base import ParameterError
from recovery.executors.process import ProcessAction

SLEEPER = [sys.executable, "-c", "import time\nwhile True: time.sleep(1)"]
CONFIG = clean_config(
    "process",
    {
        "versions": {"v1": {"argv": SLEEPER}, "v2": {"argv": SLEEPER, "env": {"FLAVOUR": "broken"}}},
        "version": "v1",
        "replicas": 1,
        "max_replicas": 4,
        "stop_timeout_s": 2,
    },
)


@pytest.fixture
def running() -> Iterator[dict[str, Any]]:
    """One replica of v1, as the actuator records it; everything it started is stopped afterwards."""
    state, _ = supervisor.converge(CONFIG, {}, version="v1", replicas=1, name="test-svc")
    holder = {"kind": "process", "config": CONFIG, "state": state}
    yield holder
    for entry in holder["state"].get("replicas", []):
        supervisor.stop(entry, timeout_s=2)


def _context(actuator: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"component": "svc", "component_slug": "test-svc", "actuator": actuator, **extra}


def _run(action: str, params: dict[str, Any], actuator: dict[str, Any], **extra: Any) -> Any:
    executor = ProcessAction(action)
    result = executor.execute(executor.clean(params), _context(actuator, **extra), timeout_s=10)
    assert result.ok, result.summary
    actuator["state"] = result.details["state"]
    return result


def _pids(state: dict[str, Any]) -> list[int]:
    return [entry["pid"] for entry in supervisor.running(state)]


def test_restart_replaces_the_process_with_a_new_pid(running: dict[str, Any]) -> None:
    (old,) = _pids(running["state"])
    _run("restart_function", {}, running)
    (new,) = _pids(running["state"])
    assert new != old
    assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE
    assert psutil.Process(new).is_running()


def test_scale_up_and_down_change_the_replica_count(running: dict[str, Any]) -> None:
    _run("scale_up", {"by": 2}, running)
    assert len(_pids(running["state"])) == 3
    _run("scale_down", {"replicas": 1}, running)
    assert len(_pids(running["state"])) == 1
    with pytest.raises(ParameterError, match=r"outside 1\.\.4"):
        ProcessAction("scale_up").plan({"by": 9}, _context(running))


def test_rollback_returns_to_the_last_good_version(running: dict[str, Any]) -> None:
    _run("rollback_deployment", {"to_version": "v2"}, running)  # a bad release goes out
    (bad,) = _pids(running["state"])
    assert psutil.Process(bad).environ()["FLAVOUR"] == "broken"
    result = _run("rollback_deployment", {}, running, rollback_to="v1")
    (good,) = _pids(running["state"])
    assert result.details["version"] == "v1" and running["state"]["version"] == "v1"
    assert psutil.Process(good).environ()["CORE314_VERSION"] == "v1"
    assert "FLAVOUR" not in psutil.Process(good).environ()


def test_a_killed_replica_is_noticed_and_restarted(running: dict[str, Any]) -> None:
    (pid,) = _pids(running["state"])
    psutil.Process(pid).kill()
    psutil.Process(pid).wait(timeout=5) if psutil.pid_exists(pid) else None
    assert supervisor.describe(running["state"])["replicas"] == 0
    result = _run("restart_function", {}, running)
    assert "was not running" in " ".join(result.details["steps"])
    assert len(_pids(running["state"])) == 1


def test_dry_runs_leave_the_processes_alone(running: dict[str, Any]) -> None:
    before = _pids(running["state"])
    for action, params in [("restart_function", {}), ("scale_up", {"by": 1}), ("scale_down", {"replicas": 1}),
                           ("rollback_deployment", {"to_version": "v2"})]:  # fmt: skip
        executor = ProcessAction(action)
        plan = executor.plan(executor.clean(params), _context(running))
        assert plan.steps
    assert _pids(running["state"]) == before
    assert all(psutil.Process(pid).is_running() for pid in before)


def test_config_is_an_argument_list_never_a_shell_line() -> None:
    with pytest.raises(ActuatorConfigError, match="argv must be a non-empty list"):
        clean_config("process", {"versions": {"v1": {"argv": "python app.py; rm -rf /"}}})
    with pytest.raises(ActuatorConfigError, match="not one of the configured versions"):
        clean_config("process", {"versions": {"v1": {"argv": ["x"]}}, "version": "v9"})
