"""A CPU fault on the live demo: the healer scales it out, heals it, and once its CPU has stayed in band for
the cool-down, scales it back in to the one replica it had, with the demo answering throughout."""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

import pytest

from tests.e2e.conftest import LiveStack
from tests.e2e.test_scenarios import Api
from tests.e2e.test_zz_back_to_back import DEMO, _now, _reset, _wait

pytestmark = pytest.mark.e2e


class Caller(threading.Thread):
    """A user of the demo, calling it all along."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.ok, self.failed, self.halt = port, 0, 0, threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.2):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/orders", timeout=10) as response:
                    self.ok += response.status == 200
            except OSError:
                self.failed += 1


def _story(stack: LiveStack, since: Any) -> str:
    """What the healer did since ``since``: for a failure's message."""
    rows = stack.sql(
        "SELECT a.id, a.action_type, a.status, a.verdict, a.reason, a.result->>'summary', a.after_metrics->>'note' "
        "FROM recovery_actions a JOIN health_component c ON c.id = a.component_id "
        "WHERE c.name = %s AND a.created_at >= %s ORDER BY a.id",
        DEMO,
        since,
    )
    return "\n".join(" | ".join(str(v) for v in row) for row in rows)


def _until(stack: LiveStack, since: Any, query: str, timeout: float, what: str) -> list[tuple[Any, ...]]:
    try:
        return _wait(stack, query, (DEMO, since), timeout, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; what the healer did:\n{_story(stack, since)}") from None


def test_a_cpu_fault_scales_out_and_after_recovery_back_in(live_stack: LiveStack) -> None:
    admin = Api(live_stack, "admin")
    _wait(
        live_stack,
        "SELECT 1 FROM system_health_events e JOIN health_component c ON c.id = e.component_id "
        "WHERE c.name = %s GROUP BY c.id HAVING count(*) >= 30",
        (DEMO,),
        120,
        "the demo's history",
    )
    _reset(live_stack, admin)
    caller = Caller(live_stack.demo_port)
    caller.start()
    started = _now(live_stack)
    live_stack.manage("inject_fault", "cpu")
    _until(
        live_stack,
        started,
        "SELECT a.id FROM recovery_actions a JOIN health_component c ON c.id = a.component_id "
        "WHERE c.name = %s AND a.created_at >= %s AND a.action_type = 'scale_up' AND a.status = 'succeeded'",
        120,
        "the demo to be scaled out",
    )
    _until(
        live_stack,
        started,
        "SELECT a.id FROM recovery_actions a JOIN health_component c ON c.id = a.component_id "
        "WHERE c.name = %s AND a.created_at >= %s AND a.verdict = 'resolved' "
        "AND a.action_type IN ('scale_up', 'restart_function')",
        120,
        "the CPU fault to be healed",
    )
    ended = _until(
        live_stack,
        started,
        "SELECT s.from_replicas, s.replicas, s.end_reason FROM recovery_scaleout s "
        "JOIN health_component c ON c.id = s.component_id "
        "WHERE c.name = %s AND s.started_at >= %s AND s.ended_at IS NOT NULL",
        150,
        "the demo to be scaled back in",
    )
    caller.halt.set()
    caller.join()
    assert ended[0][0] == 1 and ended[0][1] == 1 and ended[0][2].startswith("back to 1 replica"), ended
    (scale_in,) = live_stack.sql(
        "SELECT a.mode, a.status, a.requested_by_id, a.reason FROM recovery_actions a "
        "JOIN health_component c ON c.id = a.component_id "
        "WHERE c.name = %s AND a.created_at >= %s AND a.action_type = 'scale_down'",
        DEMO,
        started,
    )
    assert scale_in[:3] == ("automatic", "succeeded", None) and "scaling back in" in scale_in[3]
    (state,) = live_stack.sql(
        "SELECT a.state FROM recovery_actuator a JOIN health_component c ON c.id = a.component_id "
        "WHERE c.name = %s AND a.kind = 'process'",
        DEMO,
    )[0]
    assert state["desired"] == 1 and len(state["replicas"]) == 1
    assert caller.ok > 50 and caller.failed <= 2, (caller.ok, caller.failed)  # it kept answering
    _reset(live_stack, admin)
