"""Actions delivered by webhook reach a local server with a valid signature; the dry run sends nothing."""

from __future__ import annotations

from typing import Any

import pytest

from recovery.executors.base import ParameterError
from recovery.executors.webhook import WebhookAction
from tests.endpoints import SECRET, Endpoint


def context(url: str) -> dict[str, Any]:
    return {"component": "payments", "signal_id": 12, "action_id": 34,
            "actuator": {"kind": "webhook", "config": {"url": url, "secret": SECRET, "timeout_s": 2}}}  # fmt: skip


def test_a_signed_request_reaches_the_endpoint(endpoint: str) -> None:
    executor = WebhookAction("scale_up")
    params = executor.clean({"replicas": 3})
    result = executor.execute(params, context(endpoint), timeout_s=2)
    assert result.ok and result.details == {"status": 200, "answer_bytes": len(b'{"accepted": true}')}
    received = Endpoint.received[0]
    assert received["valid"] is True
    assert received["body"]["action"] == "scale_up" and received["body"]["parameters"] == {"replicas": 3}
    assert received["body"]["component"] == "payments" and received["body"]["action_id"] == 34


def test_the_dry_run_sends_nothing(endpoint: str) -> None:
    executor = WebhookAction("rollback_deployment")
    plan = executor.plan(executor.clean({"to_version": "v1"}), context(endpoint))
    assert plan.steps[0].startswith("POST a signed rollback_deployment request")
    assert Endpoint.received == []


def test_a_refusal_or_a_dead_endpoint_is_a_failed_result(endpoint: str) -> None:
    Endpoint.status = 503
    result = WebhookAction("restart_function").execute({}, context(endpoint), timeout_s=2)
    assert not result.ok and result.details["status"] == 503
    dead = WebhookAction("restart_function").execute({}, context("http://127.0.0.1:9/heal"), timeout_s=1)
    assert not dead.ok and "unreachable" in dead.summary


def test_parameters_are_checked() -> None:
    with pytest.raises(ParameterError, match="replicas"):
        WebhookAction("scale_down").clean({"replicas": 0})
    with pytest.raises(ValueError):
        WebhookAction("clear_cache")
