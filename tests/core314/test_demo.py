"""The demo service: real behaviour, faults a replica applies (a restart clears them), the bad release, metrics
the platform's probes can read, and fault injection reserved to administrators."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from django.conf import settings

from core314.demo import services as demo
from core314.models import AuditLogEntry
from health import prom
from recovery.models import Actuator, RecoveryPolicy
from tests.processes import free_port, free_port_block


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Any]:
    """One demo replica on a free port with its own fault file; stopped afterwards."""
    port = free_port()
    faults = tmp_path / "faults.json"
    processes = []

    def start(version: str = "v1") -> subprocess.Popen[bytes]:
        env = {"PATH": "/usr/bin:/bin", "CORE314_DEMO_FAULTS": str(faults), "CORE314_VERSION": version,
               "CORE314_DEMO_STATS": str(tmp_path / "stats")}  # fmt: skip
        process = subprocess.Popen(
            [sys.executable, "-m", "core314.demo.shop", "--port", str(port), "--traffic", "0"],
            cwd=settings.BASE_DIR, env=env,
        )  # fmt: skip
        processes.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if _get(f"http://127.0.0.1:{port}/api/health", 0.5)[0] == 200:
                    return process
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the demo service did not start")

    def inject(kind: str, **params: Any) -> None:
        faults.write_text(json.dumps({"faults": [{"kind": kind, "at": time.time(), **params}]}))
        time.sleep(0.5)  # replicas look every 0.2 s

    yield type("Demo", (), {"port": port, "start": staticmethod(start), "inject": staticmethod(inject)})
    for process in processes:
        process.kill()
        process.wait()


def test_it_serves_orders_health_and_metrics_the_probes_understand(service: Any) -> None:
    service.start()
    base = f"http://127.0.0.1:{service.port}"
    assert json.loads(_get(f"{base}/api/health")[1]) == {"status": "ok", "version": "v1"}
    for _ in range(20):
        assert _get(f"{base}/api/orders")[0] in {200, 500}
    text = _get(f"{base}/metrics")[1].decode()
    values, state = prom.extract(text, demo.SERIES, {}, time.time())
    for _ in range(10):
        _get(f"{base}/api/orders")
    values, _ = prom.extract(_get(f"{base}/metrics")[1].decode(), demo.SERIES, state, time.time() + 1)
    assert 0 <= values["error_rate"] <= 0.2 and 5 < values["latency_p95_ms"] < 100
    assert values["throughput_rps"] > 0 and 0 < values["memory_percent"] < 50


def test_faults_apply_to_running_replicas_and_a_restart_clears_them(service: Any) -> None:
    process = service.start()
    base = f"http://127.0.0.1:{service.port}"
    service.inject("latency", ms=400)
    started = time.perf_counter()
    assert _get(f"{base}/api/orders")[0] in {200, 500}
    assert time.perf_counter() - started > 0.4
    service.inject("hang")
    with pytest.raises(OSError):
        _get(f"{base}/api/health", timeout=1)  # accepted, never answered
    process.kill()
    process.wait()
    service.start()  # a restart: faults injected before it do not apply
    started = time.perf_counter()
    assert _get(f"{base}/api/health")[0] == 200 and time.perf_counter() - started < 0.4


def test_a_crash_ends_the_process_and_the_bad_release_fails_orders(service: Any) -> None:
    process = service.start()
    service.inject("crash")
    assert process.wait(timeout=5) == 3
    service.start("v2")
    codes = [_get(f"http://127.0.0.1:{service.port}/api/orders")[0] for _ in range(40)]
    assert 0.4 < codes.count(500) / len(codes) < 0.85


def test_demo_data_is_created_once(admin: Any) -> None:
    first = demo.demo_ensure(owner=admin)
    second = demo.demo_ensure(owner=admin)
    assert first.pk == second.pk and first.tags == ["demo"]
    assert sorted(p.kind for p in first.probes.all()) == ["http", "prometheus"]
    assert Actuator.objects.get(component=first).config["versions"].keys() == {"v1", "v2"}
    assert RecoveryPolicy.objects.filter(owner=admin, component=first).count() == len(demo.POLICIES)
    assert first.deployments.get().known_good is True


def test_only_administrators_inject_faults(admin: Any, owner: Any, api_for: Any, tmp_path: Path, settings: Any) -> None:
    settings.CORE314_DEMO_FAULTS = str(tmp_path / "faults.json")
    demo.demo_ensure(owner=admin)
    refused = api_for(owner).post("/api/v1/demo-faults/", {"kind": "hang"}, format="json")
    assert refused.status_code == 403 and not (tmp_path / "faults.json").exists()
    bad = api_for(admin).post("/api/v1/demo-faults/", {"kind": "meteor"}, format="json")
    assert bad.status_code == 400
    done = api_for(admin).post("/api/v1/demo-faults/", {"kind": "latency", "ms": 500}, format="json")
    assert done.status_code == 202 and done.json()["kind"] == "latency"
    written = json.loads((tmp_path / "faults.json").read_text())["faults"]
    assert [(f["kind"], f["ms"]) for f in written] == [("latency", 500.0)]


def test_the_stack_starts_and_stops_the_demo_through_process_control(admin: Any, settings: Any) -> None:
    settings.CORE314_DEMO_PORT = free_port()
    settings.CORE314_DEMO_REPLICA_PORT_BASE = free_port_block(4)
    demo.demo_ensure(owner=admin)
    started = demo.demo_start(owner=admin)
    try:
        assert len(started["pids"]) == 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if _get(f"http://127.0.0.1:{settings.CORE314_DEMO_PORT}/api/health", 0.5)[0] == 200:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the demo did not answer")
        assert demo.demo_start(owner=admin)["pids"] == started["pids"]  # already running: left alone
    finally:
        demo.demo_stop(owner=admin)
    assert not psutil.pid_exists(started["pids"][0]) or psutil.Process(started["pids"][0]).status() == "zombie"
    actions = list(
        AuditLogEntry.objects.filter(action__startswith="process.").order_by("id").values_list("action", flat=True)
    )
    assert actions == ["process.start", "process.stop"]
