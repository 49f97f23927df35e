"""``alert_escalation``: tell people. E-mail through Django's mail backend, a Slack-compatible webhook and a
PagerDuty Events API v2 event, to the targets configured for the component (or its owner's default).

Context (given by the engine): ``component`` (name), ``summary``, ``severity``, ``signal_id``, ``link`` and
``target`` (an EscalationTarget or None). Each channel is tried on its own: one failing channel does not stop
the others, and the result lists every channel's outcome.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from core314 import egress
from recovery.executors.base import ParameterError, Plan, Result

CHANNELS = ("email", "slack", "pagerduty")
PAGERDUTY_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}


class AlertEscalation:
    action_type = "alert_escalation"

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        channels = params.get("channels", list(CHANNELS))
        if not isinstance(channels, list) or not channels or any(c not in CHANNELS for c in channels):
            raise ParameterError(f"channels must be a non-empty list of {', '.join(CHANNELS)}")
        note = params.get("note", "")
        if not isinstance(note, str) or len(note) > 1000:
            raise ParameterError("note must be a string of at most 1000 characters")
        cleaned: dict[str, Any] = {"channels": channels, "note": note}
        if params.get("storm"):
            cleaned["storm"] = True  # one page for a storm of faults (see recovery.services.escalation)
        return cleaned

    def _targets(self, params: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        target = context.get("target")
        found: dict[str, Any] = {}
        if target is None:
            return found
        if "email" in params["channels"] and target.emails:
            found["email"] = list(target.emails)
        if "slack" in params["channels"] and target.slack_webhook_url:
            found["slack"] = target.slack_webhook_url
        if "pagerduty" in params["channels"] and target.pagerduty_url and target.pagerduty_routing_key:
            found["pagerduty"] = target.pagerduty_url
        return found

    def _subject(self, context: dict[str, Any]) -> str:
        return f"[Core314] {context.get('severity', 'medium').upper()}: {context.get('component')} needs a person"

    def plan(self, params: dict[str, Any], context: dict[str, Any]) -> Plan:
        targets = self._targets(params, context)
        steps = []
        if "email" in targets:
            steps.append(f"e-mail {', '.join(targets['email'])}: {self._subject(context)!r}")
        if "slack" in targets:
            steps.append("post a message to the configured Slack-compatible webhook")
        if "pagerduty" in targets:
            steps.append("send a PagerDuty Events v2 'trigger' event")
        if not steps:
            steps.append("nothing: no escalation target is configured for this component or its owner")
        return Plan(self.action_type, steps, {"channels": sorted(targets)})

    def execute(self, params: dict[str, Any], context: dict[str, Any], *, timeout_s: float) -> Result:
        started = time.perf_counter()
        targets = self._targets(params, context)
        if not targets:
            return Result(False, "no escalation target is configured", {}, 0.0)
        subject = self._subject(context)
        body = f"{context.get('summary', '')}\n\n{params.get('note', '')}\n{context.get('link', '')}".strip()
        outcomes: dict[str, Any] = {}
        policy = egress.policy_for(privileged=bool(context.get("privileged")))
        if "email" in targets:
            try:
                sent = send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, targets["email"], fail_silently=False)
                outcomes["email"] = {"ok": sent == 1, "recipients": len(targets["email"])}
            except Exception as exc:  # one failing channel must not stop the others
                outcomes["email"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
        if "slack" in targets:
            outcomes["slack"] = _post(targets["slack"], {"text": f"*{subject}*\n{body}"}, timeout_s, policy)
        if "pagerduty" in targets:
            event = {
                "routing_key": context["target"].pagerduty_routing_key,
                "event_action": "trigger",
                "dedup_key": f"core314-signal-{context.get('signal_id')}",
                "payload": {
                    "summary": subject[:1024],
                    "source": str(context.get("component")),
                    "severity": PAGERDUTY_SEVERITY.get(str(context.get("severity")), "warning"),
                    "custom_details": {"summary": context.get("summary", ""), "note": params.get("note", "")},
                },
            }
            outcomes["pagerduty"] = _post(targets["pagerduty"], event, timeout_s, policy)
        ok = any(o.get("ok") for o in outcomes.values())
        delivered = [c for c, o in outcomes.items() if o.get("ok")]
        summary = f"escalated via {', '.join(delivered)}" if ok else "every escalation channel failed"
        return Result(ok, summary, outcomes, (time.perf_counter() - started) * 1000)


def _post(url: str, payload: dict[str, Any], timeout_s: float, policy: egress.EgressPolicy) -> dict[str, Any]:
    """POST through the egress guard; the outcome says the status, never the answer's body."""
    request = urllib.request.Request(  # noqa: S310 -- egress.urlopen allows http(s) only
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with egress.urlopen(request, timeout=timeout_s, policy=policy) as response:
            return {"ok": 200 <= response.status < 300, "status": response.status}
    except urllib.error.HTTPError as exc:
        return {"ok": False, "status": exc.code}
    except egress.EgressRefused as exc:
        return {"ok": False, "error": f"refused by the egress guard: {exc}"[:200]}
    except http.client.HTTPException as exc:  # its message quotes the answer: never read it back
        return {"ok": False, "error": f"the answer is not HTTP ({type(exc).__name__})"}
    except (OSError, urllib.error.URLError) as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
