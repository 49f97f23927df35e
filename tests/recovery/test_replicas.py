"""Replica-aware actions on real processes (the demo service, three replicas sharing a port, each answering
its own probe port): a crashed or hung replica is restarted alone while the others keep answering; a restart
of all goes one replica at a time within the budget, the next only after the last answers."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recovery import supervisor
from recovery.actuators import clean_config
from recovery.executors.process import ProcessAction
from tests.processes import free_port, free_port_block


def _config(port: int, base: int, faults: Path) -> dict[str, Any]:
    env = {"CORE314_DEMO_FAULTS": str(faults)}
    argv = [sys.executable, "-m", "core314.demo.shop", "--port", str(port), "--own-port", "{port}", "--traffic", "0"]
    return clean_config(
        "process",
        {
            "versions": {"v1": {"argv": argv, "env": env}},
            "version": "v1",
            "replicas": 3,
            "max_replicas": 4,
            "stop_timeout_s": 2,
            "port_base": base,
            "ready_url": "http://127.0.0.1:{port}/api/health",
            "ready_timeout_s": 10,
            "max_unavailable": "25%",
        },
    )


def _answers(port: int, timeout: float = 2.0) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/api/orders")
        return connection.getresponse().status
    except OSError:
        return 0
    finally:
        connection.close()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[dict[str, Any]]:
    port, base = free_port(), free_port_block(4)
    config = _config(port, base, tmp_path / "faults.json")
    state, _ = supervisor.converge(config, {}, version="v1", replicas=3, name="replica-test")
    actuator = {"kind": "process", "config": config, "state": state, "port": port, "faults": tmp_path / "faults.json"}
    for entry in state["replicas"]:
        assert supervisor.wait_ready(config, entry), "a replica did not start"
    yield actuator
    for entry in actuator["state"].get("replicas", []):
        supervisor.stop(entry, timeout_s=2)


class Client(threading.Thread):
    """Calls the service's shared port all the time, as its users do; counts what failed."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.ok, self.failed, self.halt = port, 0, 0, threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            if _answers(self.port, timeout=10) == 200:  # slow under a loaded CI machine is not down
                self.ok += 1
            else:
                self.failed += 1
            time.sleep(0.01)


def _restart(actuator: dict[str, Any]) -> Any:
    executor = ProcessAction("restart_function")
    context = {"component": "shop", "component_slug": "replica-test", "actuator": actuator}
    result = executor.execute({}, context, timeout_s=30)
    actuator["state"] = result.details["state"]
    return result


def test_a_crashed_replica_is_restarted_alone_while_the_others_keep_answering(shop: dict[str, Any]) -> None:
    before = {e["replica"]: e["pid"] for e in shop["state"]["replicas"]}
    os.killpg(before[1], signal.SIGKILL)  # replica 1 crashes
    time.sleep(0.3)
    client = Client(shop["port"])
    client.start()
    result = _restart(shop)
    time.sleep(0.3)
    client.halt.set()
    client.join()
    after = {e["replica"]: e["pid"] for e in shop["state"]["replicas"]}
    assert result.ok, result.summary
    assert after[0] == before[0] and after[2] == before[2]  # untouched
    assert after[1] != before[1]
    assert client.ok > 10 and client.failed == 0  # the service kept answering throughout


def test_a_hung_replica_fails_its_probe_and_is_restarted_alone(shop: dict[str, Any]) -> None:
    before = {e["replica"]: e["pid"] for e in shop["state"]["replicas"]}
    os.kill(before[2], signal.SIGSTOP)  # replica 2 stops answering (its process still exists)
    try:
        assert [e["replica"] for e in supervisor.failing(shop["config"], shop["state"])] == [2]
        result = _restart(shop)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(before[2], signal.SIGCONT)
    after = {e["replica"]: e["pid"] for e in shop["state"]["replicas"]}
    assert result.ok and (after[0], after[1]) == (before[0], before[1]) and after[2] != before[2]


def test_a_restart_of_all_goes_one_replica_at_a_time_and_the_service_stays_up(shop: dict[str, Any]) -> None:
    """Every replica answers (a slowness, a leak): all are replaced, one at a time (25 % of three is less than
    one: one), each only after the last answers its own probe."""
    before = {e["replica"]: e["pid"] for e in shop["state"]["replicas"]}
    client = Client(shop["port"])
    client.start()
    result = _restart(shop)
    client.halt.set()
    client.join()
    after = {e["replica"]: e["pid"] for e in shop["state"]["replicas"]}
    assert result.ok and all(after[r] != before[r] for r in before)
    steps = result.details["steps"]
    stops = [i for i, step in enumerate(steps) if " stopped" in step or " killed" in step]
    answers = [i for i, step in enumerate(steps) if step.endswith(" answers")]
    assert len(stops) == 3 and len(answers) == 3
    assert stops[1] > answers[0] and stops[2] > answers[1]  # never two down at once
    assert client.failed == 0


def test_the_budget_is_a_share_or_a_number_never_all_of_them() -> None:
    assert supervisor.max_unavailable({"max_unavailable": "25%"}, 3) == 1
    assert supervisor.max_unavailable({"max_unavailable": "25%"}, 8) == 2
    assert supervisor.max_unavailable({"max_unavailable": 5}, 4) == 3
    assert supervisor.max_unavailable({}, 1) == 1
    assert json.dumps(clean_config("process", {"versions": {"v1": {"argv": ["x"]}}})["max_unavailable"]) == '"25%"'
