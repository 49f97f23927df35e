"""The demo: a real service under the platform's care, its probes and policies, and fault injection.

``demo_ensure`` creates (idempotently) the ``demo-shop`` component of an owner, its process actuator (two
versions: ``v1`` and the bad release ``v2``), an HTTP liveness probe and a Prometheus scrape, and the policies
that heal each fault kind; ``demo_start`` starts it. ``fault_inject`` (administrators only) writes the fault
file every replica watches, or, for ``bad_release``, deploys ``v2`` through the process actuator.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.conf import settings
from django.db import transaction

from core314.changes import record_change
from core314.demo.faults import FAULT_KINDS, faults_path, write_faults
from core314.services import DomainError, PermissionDeniedError
from core314.tenancy import Actor, is_admin

DEMO_NAME = "demo-shop"

SERIES = [
    {"metric": "demo_requests_total", "field": "error_rate", "kind": "ratio", "labels": {"code": "500"},
     "denominator": "demo_requests_total"},
    {"metric": "demo_request_seconds", "field": "latency_p95_ms", "kind": "quantile", "q": 0.95, "scale": 1000},
    {"metric": "demo_requests_total", "field": "throughput_rps", "kind": "rate"},
    {"metric": "demo_cpu_percent", "field": "cpu_percent", "kind": "gauge"},
    {"metric": "demo_memory_percent", "field": "memory_percent", "kind": "gauge"},
]  # fmt: skip

POLICIES: list[dict[str, Any]] = [
    {"name": "Demo: restart when it stops answering", "priority": 1, "kinds": ["availability_drop"],
     "min_severity": "medium", "action_type": "restart_function", "mode": "automatic",
     "chain": [{"action_type": "alert_escalation"}], "verify_after_s": 10, "cooldown_s": 10},
    {"name": "Demo: restart on slowness or a leak", "priority": 2, "kinds": ["latency_spike", "resource_exhaustion"],
     "metrics": ["latency_p95_ms", "memory_percent"], "min_severity": "medium", "action_type": "restart_function",
     "mode": "automatic", "chain": [{"action_type": "alert_escalation"}], "verify_after_s": 10, "cooldown_s": 10},
    {"name": "Demo: scale out when CPU saturates", "priority": 3, "kinds": ["resource_exhaustion"],
     "metrics": ["cpu_percent"], "min_severity": "medium", "action_type": "scale_up", "parameters": {"by": 1},
     "mode": "automatic", "chain": [{"action_type": "restart_function"}], "verify_after_s": 10, "cooldown_s": 10},
    {"name": "Demo: errors — roll back a bad release, else break the circuit", "priority": 4,
     "kinds": ["error_rate_increase"], "min_severity": "medium", "action_type": "rollback_deployment",
     "mode": "approval", "chain": [{"action_type": "circuit_breaker", "parameters": {"cooldown_s": 30},
                                    "mode": "automatic"}, {"action_type": "alert_escalation"}],
     "verify_after_s": 10, "cooldown_s": 10},
]  # fmt: skip


def demo_config() -> dict[str, Any]:
    port = settings.CORE314_DEMO_PORT
    argv = [sys.executable, "-m", "core314.demo.shop", "--port", str(port), "--own-port", "{port}"]
    env = {"CORE314_DEMO_FAULTS": str(faults_path()), "CORE314_DEMO_STATS": str(faults_path().parent / "demo-stats")}
    return {
        "versions": {"v1": {"argv": argv, "env": env, "cwd": ""}, "v2": {"argv": argv, "env": env, "cwd": ""}},
        "version": "v1",
        "replicas": 1,
        "max_replicas": 4,
        "stop_timeout_s": 2,
        # Replicas share the service's port; each also answers on its own, so a rolling restart can wait for
        # the replica it just started, and only the replicas that stop answering are restarted.
        "port_base": settings.CORE314_DEMO_REPLICA_PORT_BASE,
        "ready_url": "http://127.0.0.1:{port}/api/health",
        "ready_timeout_s": 10,
        "max_unavailable": "25%",
    }


def demo_ensure(*, owner: Any) -> Any:
    """The demo component, its actuator, probes and policies (created where missing)."""
    from health.models import Component, Probe
    from health.services import component_create, probe_create
    from recovery.actuators import clean_config
    from recovery.models import Actuator, Deployment, EscalationTarget, RecoveryPolicy
    from recovery.services import policy_save

    port = settings.CORE314_DEMO_PORT
    with transaction.atomic():
        component = Component.objects.filter(owner=owner, name=DEMO_NAME).first()
        if component is None:
            component = component_create(
                actor=None,
                owner=owner,
                name=DEMO_NAME,
                tags=["demo"],
                description="The demo service shipped with Core314 (inject faults from the System Monitor)",
            )
        actuator = Actuator.objects.filter(component=component, kind="process").first()
        if actuator is None:
            Actuator.objects.create(
                owner=owner, component=component, kind="process", config=clean_config("process", demo_config())
            )
        else:
            # The interpreter path or port may change between checkouts: keep the config current.
            Actuator.objects.filter(pk=actuator.pk).update(config=clean_config("process", demo_config()))
        base = f"http://127.0.0.1:{port}"
        if not Probe.objects.filter(component=component, kind="http").exists():
            probe_create(
                actor=None, component=component, kind="http", target=f"{base}/api/health", interval_s=1, timeout_s=1
            )
        if not Probe.objects.filter(component=component, kind="prometheus").exists():
            probe_create(
                actor=None,
                component=component,
                kind="prometheus",
                target=f"{base}/metrics",
                interval_s=1,
                timeout_s=1,
                options={"series": SERIES},
            )
        existing = set(RecoveryPolicy.objects.filter(owner=owner).values_list("name", flat=True))
        for spec in POLICIES:
            if spec["name"] not in existing:
                policy_save(actor=None, owner=owner, component=component, **spec)
        if not hasattr(component, "detection_settings"):
            from anomalies.services import detection_settings_update

            # The demo's faults are discrete and repeated on purpose: they must never become its normal.
            detection_settings_update(actor=None, component=component, freeze=30)
        if not EscalationTarget.objects.filter(owner=owner, component__isnull=True).exists():
            # Someone to tell: with the default console mail backend the e-mail appears in make run's output.
            EscalationTarget.objects.create(owner=owner, emails=["oncall@example.com"])
        if not Deployment.objects.filter(component=component).exists():
            Deployment.objects.create(
                owner=owner,
                component=component,
                version="v1",
                known_good=True,
                spec=demo_config()["versions"]["v1"],
                deployed_by="core314 (shipped)",
            )
    return component


def _demo_actuator(owner: Any) -> Any:
    from recovery.models import Actuator

    return (
        Actuator.objects.select_related("component")
        .filter(component__owner=owner, component__name=DEMO_NAME, kind="process")
        .first()
    )


def demo_start(*, owner: Any) -> dict[str, Any]:
    """Make sure the demo runs (its configured replicas of its current version), through process control."""
    from recovery import supervisor
    from recovery.services import process_control

    actuator = _demo_actuator(owner)
    if actuator is None:
        raise DomainError("There is no demo service (demo_ensure creates it).")
    if supervisor.running(actuator.state or {}):
        return supervisor.describe(actuator.state)
    return process_control(actor=owner, actuator=actuator, operation="start")


def demo_stop(*, owner: Any) -> None:
    """Stop the demo with the stack (it runs in its own session, so it would outlive it)."""
    from recovery.services import process_control

    actuator = _demo_actuator(owner)
    if actuator is not None and (actuator.state or {}).get("replicas"):
        process_control(actor=owner, actuator=actuator, operation="stop")


def fault_inject(*, actor: Actor, kind: str, ms: float | None = None, rate: float | None = None) -> dict[str, Any]:
    """Inject a fault into the demo service (administrators only)."""
    from health.models import Component
    from recovery.models import Actuator
    from recovery.services import process_control

    if not is_admin(actor):
        raise PermissionDeniedError("Only administrators inject faults.")
    if kind not in FAULT_KINDS:
        raise DomainError(f"kind must be one of {', '.join(FAULT_KINDS)}.")
    if ms is not None and not 1 <= ms <= 30_000:
        raise DomainError("ms must be between 1 and 30000.")
    if rate is not None and not 0 < rate <= 1:
        raise DomainError("rate must be a share between 0 and 1.")
    component = Component.objects.filter(name=DEMO_NAME, tags__contains=["demo"]).order_by("pk").first()
    if component is None:
        raise DomainError("There is no demo service (make run creates it).")
    if kind == "bad_release":
        actuator = Actuator.objects.get(component=component, kind="process")
        answer = process_control(actor=actor, actuator=actuator, operation="deploy", version="v2")
        return {"kind": kind, "component": component.name, "deployed": "v2", **answer}
    params = {k: v for k, v in (("ms", ms), ("rate", rate)) if v is not None}
    fault = {"kind": kind, "at": time.time(), **params}
    path = faults_path()
    current = json.loads(path.read_text()) if path.exists() else {"faults": []}
    # Keep only faults younger than an hour: replicas started since then ignore the rest anyway.
    write_faults([f for f in current["faults"] if f.get("at", 0) > time.time() - 3600] + [fault])
    with transaction.atomic():
        record_change(actor=actor, action="demo.fault", target=component, after=fault)
    return {"kind": kind, "component": component.name, **params}


def faults_clear(*, actor: Actor) -> None:
    """No new replica picks up a fault (running ones keep theirs until restarted, as a real one would)."""
    from health.models import Component

    if not is_admin(actor):
        raise PermissionDeniedError("Only administrators clear faults.")
    write_faults([])
    component = Component.objects.filter(name=DEMO_NAME, tags__contains=["demo"]).order_by("pk").first()
    if component is not None:
        with transaction.atomic():
            record_change(actor=actor, action="demo.faults_cleared", target=component)
