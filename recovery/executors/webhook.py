"""Actions delivered to the operator's own endpoint: the bridge to Kubernetes, Nomad, a deploy tool.

For a component whose actuator is a ``webhook``, ``restart_function``, ``scale_up``, ``scale_down`` and
``rollback_deployment`` POST this JSON (documented in README):

    {"action": "scale_up", "component": "payments", "parameters": {"replicas": 3},
     "signal_id": 12, "action_id": 34, "sent_at": "2026-11-28T12:00:00+00:00"}

with ``X-Core314-Timestamp`` and ``X-Core314-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``,
keyed with the actuator's secret, so the receiver can check origin and freshness. A 2xx answer is success;
the answer's status and length are recorded, never its body (an action must not read a service back). The
URL passes the egress guard when the actuator is saved and again here, when the request connects.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from core314 import egress
from core314.redact import url_shown
from recovery.executors.base import ParameterError, Plan, Result

WEBHOOK_ACTIONS = ("restart_function", "scale_up", "scale_down", "rollback_deployment")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookAction:
    def __init__(self, action_type: str) -> None:
        if action_type not in WEBHOOK_ACTIONS:
            raise ValueError(f"{action_type} is not delivered by webhook")
        self.action_type = action_type

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        cleaned: dict[str, Any] = {}
        if self.action_type in {"scale_up", "scale_down"}:
            replicas = params.get("replicas", params.get("by", 1))
            if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 100:
                raise ParameterError("replicas must be a whole number from 1 to 100")
            cleaned["replicas" if "replicas" in params else "by"] = replicas
        if self.action_type == "rollback_deployment":
            version = params.get("to_version", "")
            if not isinstance(version, str) or len(version) > 64:
                raise ParameterError("to_version must be a string of at most 64 characters")
            cleaned["to_version"] = version
        return cleaned

    def _payload(self, params: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        return {
            "action": self.action_type,
            "component": context.get("component"),
            "parameters": params,
            "signal_id": context.get("signal_id"),
            "action_id": context.get("action_id"),
            "sent_at": datetime.now(UTC).isoformat(),
        }

    def plan(self, params: dict[str, Any], context: dict[str, Any]) -> Plan:
        config = context["actuator"]["config"]
        payload = self._payload(params, context)
        where = url_shown(config["url"])
        return Plan(
            self.action_type,
            [f"POST a signed {self.action_type} request to {where} (timeout {config['timeout_s']} s)"],
            {"payload": payload},
        )

    def execute(self, params: dict[str, Any], context: dict[str, Any], *, timeout_s: float) -> Result:
        config = context["actuator"]["config"]
        body = json.dumps(self._payload(params, context), sort_keys=True).encode()
        stamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 -- egress.urlopen allows http(s) only
            config["url"],
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "core314-healer/1",
                "X-Core314-Timestamp": stamp,
                "X-Core314-Signature": sign(config["secret"], stamp, body),
            },
        )
        started = time.perf_counter()
        policy = egress.policy_for(privileged=bool(context.get("privileged")))
        try:
            with egress.urlopen(request, timeout=min(timeout_s, config["timeout_s"]), policy=policy) as response:
                size = len(response.read(65_536))
                status = response.status
        except urllib.error.HTTPError as exc:
            size, status = len(exc.read(65_536)) if exc.fp else 0, exc.code
        except egress.EgressRefused as exc:
            return Result(False, f"refused by the egress guard: {exc}"[:200], {}, _ms(started))
        except http.client.HTTPException as exc:  # its message quotes the answer: never read it back
            return Result(False, f"the webhook's answer is not HTTP ({type(exc).__name__})", {}, _ms(started))
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", None)
            if isinstance(reason, egress.EgressRefused):
                return Result(False, f"refused by the egress guard: {reason}"[:200], {}, _ms(started))
            return Result(False, f"webhook unreachable: {type(exc).__name__}: {exc}"[:200], {}, _ms(started))
        ok = 200 <= status < 300
        summary = f"webhook answered HTTP {status}" + ("" if ok else " (not a success)")
        return Result(ok, summary, {"status": status, "answer_bytes": size}, _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
