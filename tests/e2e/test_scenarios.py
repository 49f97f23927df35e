"""The original design's twelve end-to-end scenarios, on the live stack, through the public API with
service-account tokens. Latencies are recorded (printed and written to test-artifacts/e2e-latency.json) and
asserted only with generous bounds."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.e2e.conftest import LiveStack, login

pytestmark = pytest.mark.e2e
LATENCY: dict[str, float] = {}


class Api:
    def __init__(self, stack: LiveStack, who: str) -> None:
        self.base = stack.url + "/api/v1"
        self.token = stack.tokens[who]

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, float]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        took = time.perf_counter() - started
        return status, (json.loads(raw) if raw else None), took

    def get(self, path: str) -> Any:
        status, body, _ = self.call("GET", path)
        assert status == 200, (path, status, body)
        return body

    def post(self, path: str, body: Any, expect: int = 201) -> Any:
        status, answer, took = self.call("POST", path, body)
        assert status == expect, (path, status, answer)
        LATENCY.setdefault(f"POST {path.split('?')[0]}", round(took * 1000, 1))
        return answer


def rows(answer: Any) -> list[dict[str, Any]]:
    return answer["results"] if isinstance(answer, dict) and "results" in answer else answer


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def iso(at: datetime) -> str:
    return at.isoformat()


@pytest.fixture(scope="module")
def world(live_stack: LiveStack) -> dict[str, Any]:
    alice, bob = Api(live_stack, "alice"), Api(live_stack, "bob")
    return {
        "stack": live_stack,
        "alice": alice,
        "bob": bob,
        "admin": Api(live_stack, "admin"),
        "a_component": alice.post("/components/", {"name": "alice-api"})["id"],
        "b_component": bob.post("/components/", {"name": "bob-api"})["id"],
    }


def test_01_create_a_health_event(world: dict[str, Any]) -> None:
    alice = world["alice"]
    now = datetime.now(UTC)
    event = alice.post(
        "/health-events/",
        {
            "component": world["a_component"],
            "window_start": iso(now - timedelta(seconds=10)),
            "latency_p95_ms": 120,
            "error_rate": 0.01,
        },
    )
    assert event["component"] == world["a_component"] and event["status"] in {"healthy", "degraded"}
    world["bob"].post(
        "/health-events/",
        {"component": world["b_component"], "window_start": iso(now - timedelta(seconds=10)), "latency_p95_ms": 90},
    )


def test_02_the_monitoring_job_rolls_records_into_percentiles(world: dict[str, Any]) -> None:
    alice = world["alice"]
    component = alice.post("/components/", {"name": "alice-worker", "type": "worker"})["id"]
    now = datetime.now(UTC)
    records = [
        {
            "component": component,
            "started_at": iso(now - timedelta(milliseconds=50 * i)),
            "duration_ms": float(10 + i),
            "ok": i % 10 != 0,
        }
        for i in range(40)
    ]
    started = time.perf_counter()
    alice.post("/execution-records/bulk/", {"records": records})

    def rolled() -> Any:
        found = rows(alice.get(f"/health-events/?component={component}&source=rollup"))
        return found if found and sum(e["request_count"] for e in found) >= 40 else None

    events = wait_for(rolled, 20, "a rolled-up health event")
    LATENCY["monitoring: records → rolled-up event"] = round((time.perf_counter() - started) * 1000, 1)
    assert all(e["latency_p50_ms"] <= e["latency_p95_ms"] <= e["latency_p99_ms"] for e in events)
    assert sum(e["error_count"] for e in events) == 4


def test_03_create_an_anomaly_signal_through_the_api(world: dict[str, Any]) -> None:
    answer = world["alice"].post(
        "/alerts/",
        {"component": world["a_component"], "name": "DiskFull", "severity": "warning", "summary": "disk 97 % full"},
        expect=200,
    )
    outcome = answer["results"][0]
    assert outcome["result"] == "opened"
    signal = world["alice"].get(f"/anomalies/{outcome['signal_id']}/")
    assert signal["kind"] == "external_alert" and signal["component"] == world["a_component"]


def _anomalous_history(api: Api, component: int) -> datetime:
    rng = random.Random(3)
    start = datetime.now(UTC) - timedelta(seconds=10 * 61)
    events = [
        {
            "component": component,
            "window_start": iso(start + timedelta(seconds=10 * i)),
            "latency_p95_ms": 120 + rng.gauss(0, 5),
        }
        for i in range(60)
    ]
    api.post("/health-events/batch/", {"events": events})
    return start + timedelta(seconds=600)


def test_04_the_detector_opens_a_signal_by_itself(world: dict[str, Any]) -> None:
    alice = world["alice"]
    component = alice.post("/components/", {"name": "alice-checkout"})["id"]
    spike_at = _anomalous_history(alice, component)
    started = time.perf_counter()
    alice.post("/health-events/", {"component": component, "window_start": iso(spike_at), "latency_p95_ms": 2500})
    signal = wait_for(lambda: rows(alice.get(f"/anomalies/?component={component}")), 10, "a detected signal")[0]
    LATENCY["detection: anomalous event → signal"] = round((time.perf_counter() - started) * 1000, 1)
    assert signal["kind"] == "latency_spike" and "2500" in signal["explanation"].replace(",", "")
    assert LATENCY["detection: anomalous event → signal"] < 3000 * 3  # target 3 s; generous for CI noise


def test_05_create_a_recovery_action_by_hand(world: dict[str, Any]) -> None:
    action = world["alice"].post(
        "/recovery-actions/",
        {
            "component": world["a_component"],
            "action_type": "circuit_breaker",
            "parameters": {"cooldown_s": 5},
            "reason": "e2e: manual",
        },
    )
    assert action["status"] == "approved" and action["plan"]["steps"]
    done = wait_for(
        lambda: (a := world["alice"].get(f"/recovery-actions/{action['id']}/"))["status"] == "succeeded" and a,
        10,
        "the manual action to run",
    )
    assert done["result"]["summary"].startswith("breaker open")


def test_06_the_engine_heals_a_detected_signal_and_records_its_verdict(world: dict[str, Any]) -> None:
    alice = world["alice"]
    component = alice.post("/components/", {"name": "alice-payments"})["id"]
    alice.post(
        "/recovery-policies/",
        {
            "name": "e2e breaker",
            "priority": 0,
            "component": component,
            "kinds": ["latency_spike"],
            "min_severity": "low",
            "action_type": "circuit_breaker",
            "parameters": {"cooldown_s": 5},
            "mode": "automatic",
            "verify_after_s": 2,
        },
    )
    spike_at = _anomalous_history(alice, component)
    alice.post("/health-events/", {"component": component, "window_start": iso(spike_at), "latency_p95_ms": 2500})
    signal = wait_for(lambda: rows(alice.get(f"/anomalies/?component={component}")), 10, "a detected signal")[0]
    action = wait_for(
        lambda: rows(alice.get(f"/recovery-actions/?component={component}&action_type=circuit_breaker")),
        10,
        "the policy's action",
    )[0]
    started = datetime.fromisoformat(action["started_at"]) if action["started_at"] else None
    if started is None:
        action = wait_for(
            lambda: (a := alice.get(f"/recovery-actions/{action['id']}/"))["started_at"] and a, 10, "start"
        )
        started = datetime.fromisoformat(action["started_at"])
    LATENCY["recovery: signal → action started"] = round(
        (started - datetime.fromisoformat(signal["created_at"])).total_seconds() * 1000, 1
    )
    assert LATENCY["recovery: signal → action started"] < 5000 * 3  # target 5 s
    # The service recovers; the verdict follows the verification window.
    alice.post(
        "/health-events/",
        {"component": component, "window_start": iso(datetime.now(UTC) - timedelta(seconds=1)), "latency_p95_ms": 121},
    )
    judged = wait_for(lambda: (a := alice.get(f"/recovery-actions/{action['id']}/"))["verdict"] and a, 30, "a verdict")
    assert judged["verdict"] in {"resolved", "improved", "no_effect", "worse"} and judged["effectiveness"] is not None


def test_07_trigger_a_self_test_run(world: dict[str, Any]) -> None:
    alice = world["alice"]
    run = alice.post("/selftest-runs/trigger/", {"categories": ["detection", "security"]}, expect=202)
    done = wait_for(lambda: (r := alice.get(f"/selftest-runs/{run['id']}/"))["finished_at"] and r, 60, "the run")
    assert done["status"] == "passed"
    results = rows(alice.get(f"/selftest-results/?run={run['id']}"))
    assert {r["check_name"] for r in results} == {"detector", "tenant_isolation"}


def test_08_health_summary(world: dict[str, Any]) -> None:
    summary = world["alice"].get("/health-events/summary/?range=1h")
    names = {c["name"] for c in summary["components"]}
    assert "alice-api" in names and "bob-api" not in names


def test_09_anomaly_statistics(world: dict[str, Any]) -> None:
    stats = world["alice"].get("/anomalies/statistics/?range=1h")
    assert stats["total"] >= 3 and stats["by_kind"].get("latency_spike", 0) >= 2


def test_10_recovery_statistics(world: dict[str, Any]) -> None:
    stats = world["alice"].get("/recovery-actions/statistics/?range=1h")
    assert stats["total"] >= 2 and stats["by_type"]["circuit_breaker"]["total"] >= 2


LISTS = [
    "/components/",
    "/health-events/",
    "/anomalies/",
    "/recovery-actions/",
    "/recovery-policies/",
    "/selftest-runs/",
    "/selftest-results/",
    "/execution-records/",
    "/circuit-breakers/",
]


def test_11_isolation(world: dict[str, Any]) -> None:
    for path in LISTS:
        seen = {who: json.dumps(world[who].get(path)) for who in ("alice", "bob", "admin")}
        assert "alice-" not in seen["bob"], f"bob sees alice's rows in {path}"
        assert "bob-" not in seen["alice"], f"alice sees bob's rows in {path}"
    # The administrator (signed in, not a service account, which acts for its owner only) sees both.
    opener, _ = login(world["stack"], "admin", world["stack"].admin_password)
    everything = opener.open(f"{world['stack'].url}/api/v1/components/?page_size=500", timeout=10).read().decode()
    assert "alice-api" in everything and "bob-api" in everything
    status, _, _ = world["bob"].call("GET", f"/components/{world['a_component']}/")
    assert status == 404


def test_12_latency(world: dict[str, Any]) -> None:
    for path in [
        "/health-events/summary/",
        "/anomalies/statistics/",
        "/recovery-actions/statistics/",
        "/selftest-runs/summary/",
        "/components/",
    ]:
        status, _, took = world["alice"].call("GET", path)
        assert status == 200
        LATENCY[f"GET {path}"] = round(took * 1000, 1)
    out = Path(settings.BASE_DIR) / "test-artifacts" / "e2e-latency.json"
    out.write_text(json.dumps(LATENCY, indent=1))
    print("\n".join(f"{name}: {ms} ms" for name, ms in LATENCY.items()))
    # Generous bounds: the figures are the record; CI noise must not make this flaky.
    assert all(ms < 10_000 for ms in LATENCY.values()), LATENCY
