"""Under daphne, HTTP requests are served concurrently and bodies are bounded as they arrive: a request that
waits (here on a row lock) or carries a megabyte never holds up ``/healthz``; a body past its endpoint's limit
is a JSON 413, declared or chunked."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from health.models import ExecutionRecord
from recovery.models import RecoveryAction
from tests import processes
from tests.browser.conftest import asgi_server  # noqa: F401 -- the fixture: daphne on the test database
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _request(url: str, token: str, body: bytes | Iterator[bytes], **headers: str) -> tuple[int, Any, float]:
    request = urllib.request.Request(
        url, body, {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers}, method="POST"
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw.startswith(b"{") else raw[:200], time.monotonic() - started


def _healthz_while(busy: threading.Thread, url: str) -> list[float]:
    """How long each /healthz took while ``busy`` ran (at least three of them)."""
    waits: list[float] = []
    while busy.is_alive() or len(waits) < 3:
        started = time.monotonic()
        with urllib.request.urlopen(f"{url}/healthz", timeout=30) as response:
            assert response.status == 200 and json.loads(response.read()) == {"status": "ok"}
        waits.append(time.monotonic() - started)
        time.sleep(0.05)
    return waits


def test_healthz_answers_while_another_request_waits(asgi_server: str, owner: Any, service_account: Any) -> None:  # noqa: F811 -- the fixture imported above
    component = ComponentFactory(owner=owner, name="checkout")
    lock = psycopg.connect(processes.test_database_url())
    lock.execute("BEGIN")
    lock.execute("SELECT id FROM health_component WHERE id = %s FOR UPDATE", [component.pk])
    answers: dict[str, Any] = {}
    body = json.dumps({"component": component.pk, "action_type": "circuit_breaker", "reason": "by hand"}).encode()

    def waiting() -> None:  # a manual action locks the component first: it waits for the test's lock
        answers["waiting"] = _request(f"{asgi_server}/api/v1/recovery-actions/", service_account.token, body)

    busy = threading.Thread(target=waiting)
    busy.start()
    time.sleep(0.3)
    releaser = threading.Timer(3.0, lock.rollback)
    releaser.start()
    try:
        waits = _healthz_while(busy, asgi_server)
    finally:
        releaser.join()
        lock.close()
    busy.join(30)
    status, payload, took = answers["waiting"]
    assert status == 201 and payload["action_type"] == "circuit_breaker", payload
    assert took >= 2.5  # it really waited for the lock...
    assert max(waits) < 1.0, waits  # ...and /healthz did not wait for it
    assert RecoveryAction.objects.filter(component=component).count() == 1


def test_a_megabyte_message_is_answered_quickly_and_healthz_meanwhile(
    asgi_server: str,  # noqa: F811 -- the fixture imported above
    owner: Any,
    service_account: Any,
) -> None:
    component = ComponentFactory(owner=owner, name="checkout")
    record = {"component": component.pk, "started_at": datetime.now(UTC).isoformat(), "duration_ms": 5, "ok": False,
              "message": "m" * 1_000_000}  # fmt: skip
    body = json.dumps({"records": [record]}).encode()
    answers: dict[str, Any] = {}

    def big() -> None:
        answers["big"] = _request(f"{asgi_server}/api/v1/execution-records/bulk/", service_account.token, body)

    busy = threading.Thread(target=big)
    busy.start()
    waits = _healthz_while(busy, asgi_server)
    busy.join(30)
    status, payload, took = answers["big"]
    assert status == 201 and payload["stored"] == 1, payload
    assert len(ExecutionRecord.objects.get(component=component).message) <= 500
    assert took < 2.0 and max(waits) < 1.0, (took, waits)


def test_a_body_past_its_limit_is_refused_as_it_arrives(asgi_server: str, service_account: Any) -> None:  # noqa: F811 -- the fixture imported above
    big = json.dumps({"name": "x", "description": "y" * 300_000}).encode()
    status, payload, _ = _request(f"{asgi_server}/api/v1/components/", service_account.token, big)
    assert status == 413 and "at most 262144 bytes" in payload["detail"]

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "x", "description": "'
        for _ in range(40):
            yield b"y" * 10_000
        yield b'"}'

    status, payload, _ = _request(
        f"{asgi_server}/api/v1/components/", service_account.token, chunks(), **{"Transfer-Encoding": "chunked"}
    )
    assert status == 413 and "at most 262144 bytes" in payload["detail"]
