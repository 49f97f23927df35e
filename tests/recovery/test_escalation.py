"""alert_escalation: e-mail lands in the outbox, the Slack and PagerDuty webhooks reach a local server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core import mail

from recovery import services
from recovery.executors.base import ParameterError
from recovery.executors.escalation import AlertEscalation
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        Receiver.received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
        self.send_response(202 if self.path == "/pd" else 200)
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _context(component: Any, target: Any) -> dict[str, Any]:
    return {"component": component.name, "summary": "errors at 40 % after 3 restarts", "severity": "critical",
            "signal_id": 7, "link": "http://core314/anomaly-console/signals/7", "target": target}  # fmt: skip


def test_plan_says_what_would_happen_and_does_nothing(owner: Any, receiver: str, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    component = ComponentFactory(owner=owner, name="payments")
    target = services.escalation_target_save(
        actor=owner, owner=owner, emails=["oncall@example.com"], slack_webhook_url=f"{receiver}/slack",
        pagerduty_url=f"{receiver}/pd", pagerduty_routing_key="R0UTINGKEY",
    )  # fmt: skip
    executor = AlertEscalation()
    plan = executor.plan(executor.clean({}), _context(component, target))
    assert plan.steps[0].startswith("e-mail oncall@example.com")
    assert plan.details == {"channels": ["email", "pagerduty", "slack"]}
    assert mail.outbox == [] and Receiver.received == []  # the dry run touched nothing


def test_execute_reaches_every_channel(owner: Any, receiver: str, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    component = ComponentFactory(owner=owner, name="payments")
    target = services.escalation_target_save(
        actor=owner, owner=owner, emails=["oncall@example.com"], slack_webhook_url=f"{receiver}/slack",
        pagerduty_url=f"{receiver}/pd", pagerduty_routing_key="R0UTINGKEY",
    )  # fmt: skip
    executor = AlertEscalation()
    result = executor.execute(
        executor.clean({"note": "auto-healing gave up"}), _context(component, target), timeout_s=2
    )
    assert result.ok and result.summary == "escalated via email, slack, pagerduty"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["oncall@example.com"]
    assert "payments" in mail.outbox[0].subject and "auto-healing gave up" in mail.outbox[0].body
    paths = dict(Receiver.received)
    assert "payments" in paths["/slack"]["text"]
    event = paths["/pd"]
    assert event["routing_key"] == "R0UTINGKEY" and event["event_action"] == "trigger"
    assert event["payload"]["severity"] == "critical" and event["dedup_key"] == "core314-signal-7"


def test_a_dead_channel_does_not_stop_the_others(owner: Any, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    component = ComponentFactory(owner=owner)
    target = services.escalation_target_save(
        actor=owner, owner=owner, emails=["oncall@example.com"], slack_webhook_url=f"http://127.0.0.1:{dead}/x"
    )
    executor = AlertEscalation()
    result = executor.execute(executor.clean({}), _context(component, target), timeout_s=1)
    assert result.ok and result.details["slack"]["ok"] is False and result.details["email"]["ok"] is True


def test_bad_parameters_and_targets_are_refused(owner: Any) -> None:
    from core314.services import DomainError

    with pytest.raises(ParameterError, match="channels"):
        AlertEscalation().clean({"channels": ["carrier-pigeon"]})
    with pytest.raises(DomainError, match="e-mail"):
        services.escalation_target_save(actor=owner, owner=owner, emails=["not-an-address"])
    with pytest.raises(DomainError, match="both"):
        services.escalation_target_save(actor=owner, owner=owner, pagerduty_url="https://events.example/v2/enqueue")
    assert not AlertEscalation().execute({"channels": ["email"], "note": ""}, {"target": None}, timeout_s=1).ok


def test_a_component_target_wins_over_the_owner_default(owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    default = services.escalation_target_save(actor=owner, owner=owner, emails=["team@example.com"])
    assert services.escalation_target_for(component) == default
    own = services.escalation_target_save(actor=owner, owner=owner, component=component, emails=["a@example.com"])
    assert services.escalation_target_for(component) == own


def test_the_api_never_shows_the_routing_key(api_for: Any, owner: Any) -> None:
    client = api_for(owner)
    response = client.post(
        "/api/v1/escalation-targets/",
        {"emails": ["oncall@example.com"], "pagerduty_url": "https://events.example/v2/enqueue",
         "pagerduty_routing_key": "SECRETKEY123"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    listed = client.get("/api/v1/escalation-targets/").content.decode()
    assert "SECRETKEY123" not in listed and '"has_pagerduty_key":true' in listed
