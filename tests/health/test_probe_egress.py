"""Probes pass the egress guard when they are saved (a 400 naming ``target``) and again when they run; a
probe's error never reads the target's answer back."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from core314.services import DomainError
from health import services
from health.models import ExecutionRecord, Probe
from tests.factories import ComponentFactory, ProbeFactory

pytestmark = pytest.mark.django_db

PROBES = "/api/v1/probes/"


def _platform_dsn() -> str:
    params = connection.get_connection_params()
    user, host, port = params.get("user", "postgres"), params.get("host", "127.0.0.1"), params.get("port", 5432)
    return f"postgresql://{user}@{host}:{port}/{params['dbname']}"


class Listener:
    """A TCP server that answers every connection with ``payload`` and counts the connections."""

    def __init__(self, payload: bytes) -> None:
        self.payload, self.connections = payload, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            try:
                conn.settimeout(1)
                conn.recv(4096)
                conn.sendall(self.payload)
            except OSError:
                pass
            finally:
                conn.close()


@pytest.fixture
def secret_server() -> Iterator[Listener]:
    listener = Listener(b"SECRET-LINE the internal admin token is hunter2\r\n\r\n")
    yield listener
    listener.sock.close()


@pytest.fixture
def secret_http() -> Iterator[Listener]:
    body = b"SECRET-LINE the internal admin token is hunter2\n"
    listener = Listener(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    yield listener
    listener.sock.close()


@pytest.mark.parametrize(
    ("kind", "target", "message"),
    [
        ("http", "file:///etc/passwd", "only http and https"),
        ("http", "gopher://10.0.0.1:70/_stats", "only http and https"),
        ("http", "javascript:alert(1)", "only http and https"),
        ("http", "http://169.254.169.254/latest/meta-data/iam/", "metadata"),
        ("prometheus", "http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http", "http://[fe80::1%25eth0]/", "link-local"),
        ("http", "http://0.0.0.0:8000/", "unspecified"),
        ("tcp", "169.254.169.254:80", "metadata"),
        ("http", f"http://127.0.0.1:{settings.CORE314_PORT}/api/v1/", "this platform's own services"),
        ("redis", settings.REDIS_URL, "this platform's own services"),
        ("postgres", "DSN", "this platform's own services"),
        ("postgres", "postgresql://u@/db?host=/var/run/postgresql", "not allowed"),
    ],
)
def test_a_probe_aimed_at_a_refused_target_is_a_400_naming_the_field(
    owner: Any, api_for: Any, kind: str, target: str, message: str
) -> None:
    component = ComponentFactory(owner=owner)
    target = _platform_dsn() if target == "DSN" else target
    response = api_for(owner).post(PROBES, {"component": component.pk, "kind": kind, "target": target}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"]["target"][0] and message in response.json()["detail"]
    assert not Probe.objects.exists()


def test_loopback_is_an_administrators_unless_allowed(owner: Any, admin: Any, api_for: Any, settings: Any) -> None:
    settings.CORE314_EGRESS_ALLOW = []
    mine = ComponentFactory(owner=owner)
    body = {"component": mine.pk, "kind": "http", "target": "http://localhost:9100/api/health"}
    refused = api_for(owner).post(PROBES, body, format="json")
    assert refused.status_code == 400 and "loopback" in refused.json()["detail"]
    # The demo: an administrator's own component probes a local process (and the platform probes itself).
    demo = ComponentFactory(owner=admin)
    created = api_for(admin).post(PROBES, {**body, "component": demo.pk}, format="json")
    assert created.status_code == 201, created.content
    services.probe_create(actor=None, component=demo, kind="redis", target=settings.REDIS_URL)
    # An administrator does not lend the privilege to someone else's component.
    on_alice = api_for(admin).post(PROBES, body, format="json")
    assert on_alice.status_code == 400
    settings.CORE314_EGRESS_ALLOW = ["127.0.0.0/8"]
    assert api_for(owner).post(PROBES, body, format="json").status_code == 201


def test_an_edit_is_checked_too(owner: Any) -> None:
    probe = services.probe_create(actor=owner, component=ComponentFactory(owner=owner), kind="http",
                                  target="http://10.1.2.3/health")  # fmt: skip
    with pytest.raises(DomainError, match="metadata"):
        services.probe_update(actor=owner, probe=probe, target="http://169.254.169.254/")
    probe.refresh_from_db()
    assert probe.target == "http://10.1.2.3/health"


def test_a_stored_probe_is_refused_when_it_runs(owner: Any, secret_http: Listener, settings: Any) -> None:
    """A row saved before the guard (or a name that resolves elsewhere now) is checked at connect time:
    nothing connects."""
    settings.CORE314_EGRESS_ALLOW = []
    ProbeFactory(component=ComponentFactory(owner=owner), target=f"http://127.0.0.1:{secret_http.port}/")
    ProbeFactory(component=ComponentFactory(owner=owner), kind="redis", target=settings.REDIS_URL)
    assert services.probes_run_due() == 2
    assert secret_http.connections == 0
    for record in ExecutionRecord.objects.all():
        assert not record.ok and record.error_kind == "egress" and "egress guard" in record.message
    assert set(Probe.objects.values_list("last_ok", flat=True)) == {False}


@pytest.mark.parametrize("kind", ["http", "prometheus", "redis", "tcp-as-http"])
def test_a_probes_error_never_reads_the_targets_answer_back(
    owner: Any, kind: str, secret_server: Listener, secret_http: Listener
) -> None:
    port = secret_http.port if kind == "prometheus" else secret_server.port
    target = {
        "http": f"http://127.0.0.1:{port}/",
        "prometheus": f"http://127.0.0.1:{port}/metrics",
        "redis": f"redis://127.0.0.1:{port}/0",
        "tcp-as-http": f"http://127.0.0.1:{port}/",
    }[kind]
    probe = services.probe_create(
        actor=owner,
        component=ComponentFactory(owner=owner),
        kind=kind.removeprefix("tcp-as-"),
        target=target,
        timeout_s=2,
        options={"series": [{"metric": "x", "field": "cpu_percent", "kind": "gauge"}]} if kind == "prometheus" else {},
    )
    services.probes_run_due()
    probe.refresh_from_db()
    record = ExecutionRecord.objects.get()
    assert probe.last_ok is False and (secret_server.connections or secret_http.connections)
    for shown in (probe.last_error, record.message):
        assert "SECRET" not in shown and "hunter2" not in shown, shown


def test_the_admin_names_the_refused_field(admin: Any, client_for: Any) -> None:
    component = ComponentFactory(owner=admin)
    form = {
        "owner": admin.pk, "component": component.pk, "kind": "http", "target": "http://169.254.169.254/latest/",
        "interval_s": 10, "timeout_s": 2.0, "expected_status": 200, "body_match": "", "options": "{}",
        "enabled": "on", "next_run_at_0": "2026-01-01", "next_run_at_1": "00:00:00",
    }  # fmt: skip
    page = client_for(admin).post("/admin/health/probe/add/", form)
    assert page.status_code == 200 and not Probe.objects.exists()
    assert page.context["adminform"].form.errors["target"] == ["target: 169.254.169.254 is a cloud metadata address"]
