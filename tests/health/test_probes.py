"""Probes against real local servers: an HTTP server the test starts, the test PostgreSQL and Redis."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core314.egress import EgressPolicy, parse_networks
from health import services
from health.models import ExecutionRecord, Probe, SystemHealthEvent
from health.probe_runners import ProbeSpec
from health.probe_runners import run as run_with
from tests.factories import ComponentFactory

METRICS = {"requests": 0}
# The servers these tests start listen on loopback (opened for them); the platform's own PostgreSQL and Redis
# are reached as the platform's probes of itself reach them: as an administrator's.
LOCAL = EgressPolicy(allow=parse_networks(["127.0.0.0/8"]))
PLATFORM = EgressPolicy(privileged=True)


def run(spec: ProbeSpec) -> Any:
    spec.egress = PLATFORM if spec.kind in {"postgres", "redis"} else LOCAL
    return run_with(spec)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(1.5)
        if self.path == "/metrics":
            METRICS["requests"] += 100
            body = (
                "# TYPE app_requests_total counter\n"
                f"app_requests_total {METRICS['requests']}\n"
                "# TYPE app_cpu gauge\napp_cpu 55\n"
            ).encode()
            self.send_response(200)
        elif self.path == "/boom":
            body = b"internal error"
            self.send_response(500)
        else:
            body = b"status: all good"
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_http_probe_reports_status_latency_and_body_match(http_server: str) -> None:
    ok = run(ProbeSpec("http", f"{http_server}/health", 2, 200, "all good"))
    assert ok.ok and ok.duration_ms > 0 and ok.message == "HTTP 200"
    mismatch = run(ProbeSpec("http", f"{http_server}/health", 2, 200, "banana"))
    assert not mismatch.ok and mismatch.error_kind == "body_mismatch"
    error = run(ProbeSpec("http", f"{http_server}/boom", 2, 200))
    assert not error.ok and error.error_kind == "http_500"


def test_a_timeout_or_closed_port_is_an_unhealthy_outcome_not_an_exception(http_server: str) -> None:
    slow = run(ProbeSpec("http", f"{http_server}/slow", 0.3))
    assert not slow.ok and slow.error_kind == "timeout"
    assert slow.duration_ms < 1200
    port = closed_port()
    refused = run(ProbeSpec("http", f"http://127.0.0.1:{port}/", 1))
    assert not refused.ok and refused.error_kind == "refused"
    tcp = run(ProbeSpec("tcp", f"127.0.0.1:{port}", 1))
    assert not tcp.ok and tcp.error_kind == "refused"
    assert not run(ProbeSpec("http", "ftp://example.invalid/", 1)).ok


def test_tcp_probe_connects(http_server: str) -> None:
    outcome = run(ProbeSpec("tcp", http_server.removeprefix("http://"), 1))
    assert outcome.ok


@pytest.mark.django_db
def test_postgres_probe_reads_connections() -> None:
    params = connection.get_connection_params()
    host, port = params.get("host", "127.0.0.1"), params.get("port", 5432)
    dsn = f"postgresql://{params.get('user', 'postgres')}@{host}:{port}/{params['dbname']}"
    outcome = run(ProbeSpec("postgres", dsn, 3))
    assert outcome.ok, outcome.message
    assert outcome.gauges["connections"] >= 1 and outcome.gauges["connections_limit"] > 0
    bad = run(ProbeSpec("postgres", f"postgresql://postgres@127.0.0.1:{closed_port()}/x", 1))
    assert not bad.ok


def test_redis_probe_pings() -> None:
    outcome = run(ProbeSpec("redis", settings.REDIS_URL, 2))
    assert outcome.ok and outcome.gauges["connections"] >= 1
    assert not run(ProbeSpec("redis", f"redis://127.0.0.1:{closed_port()}/0", 0.5)).ok


def test_prometheus_scrape_maps_series_onto_fields(http_server: str) -> None:
    options = {"series": [
        {"metric": "app_requests_total", "field": "throughput_rps", "kind": "rate"},
        {"metric": "app_cpu", "field": "cpu_percent", "kind": "gauge"},
    ]}  # fmt: skip
    first = run(ProbeSpec("prometheus", f"{http_server}/metrics", 2, options=options))
    assert first.ok and first.gauges == {"cpu_percent": 55.0}
    time.sleep(0.2)
    second = run(ProbeSpec("prometheus", f"{http_server}/metrics", 2, options=options, state=first.state or {}))
    assert second.gauges["cpu_percent"] == 55.0
    assert second.gauges["throughput_rps"] > 100  # 100 requests in about 0.2 s


@pytest.mark.django_db
def test_due_probes_run_and_roll_up_into_events(owner: Any, http_server: str, settings: Any) -> None:
    settings.CORE314_ROLLUP_INTERVAL = 10
    good = ComponentFactory(owner=owner, name="good")
    down = ComponentFactory(owner=owner, name="down")
    services.probe_create(actor=owner, component=good, kind="http", target=f"{http_server}/health", timeout_s=1)
    services.probe_create(actor=owner, component=down, kind="tcp", target=f"127.0.0.1:{closed_port()}", timeout_s=1)
    now = timezone.now()
    assert services.probes_run_due(now=now) == 2
    assert services.probes_run_due(now=now) == 0  # claimed: not due again until its interval passes
    assert ExecutionRecord.objects.filter(source="probe").count() == 2
    assert Probe.objects.get(component=down).last_ok is False
    services.health_rollup(now=now + dt.timedelta(seconds=22))
    assert SystemHealthEvent.objects.get(component=good, source="rollup").status == "healthy"
    failed = SystemHealthEvent.objects.get(component=down, source="rollup")
    assert failed.availability == 0 and failed.status == "critical"
    down.refresh_from_db()
    assert down.status == "critical" and down.last_report_at is not None


def test_a_failing_probes_due_receiver_does_not_stop_the_probes(owner: Any, http_server: str) -> None:
    """Receivers answer which components to skip (circuit breakers); one that fails is left out, logged."""
    from health.signals import probes_due

    def broken(sender: Any, **kwargs: Any) -> dict[int, str]:
        raise RuntimeError("breaker table unavailable")

    component = ComponentFactory(owner=owner)
    services.probe_create(actor=owner, component=component, kind="http", target=f"{http_server}/health", timeout_s=1)
    probes_due.connect(broken, dispatch_uid="tests.health.broken_gate")
    try:
        assert services.probes_run_due(now=timezone.now()) == 1
    finally:
        probes_due.disconnect(dispatch_uid="tests.health.broken_gate")
    record = ExecutionRecord.objects.get(component=component)
    assert record.source == "probe" and record.ok
