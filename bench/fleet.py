"""Fleet benchmark (``python -m bench fleet``): healing with replicas, scaling back in, and a storm, on the real
stack (the chaos bench's: ``manage.py runstack`` on free ports, its own database, 2-second windows).

1. **One replica of three crashed** (SIGKILL): the platform restarts only that replica; against a restart of
   all three at once (``systemctl restart``, or a naive restart action). A client calls the shared port every
   20 ms throughout: the requests that failed, and for how long any failed.
2. **CPU fault**: time to scale out, to heal, and to be back at the original replica count (a cool-down of
   30 s here; 300 s by default).
3. **A storm**: 50 of 200 components fail at once. Automatic actions started in the first minute and in all,
   the most in flight at once, escalations sent, and when the last failing component got its action; the
   platform's budget (CORE314_HEALING_MAX_*) is the ceiling.
"""

from __future__ import annotations

import http.server
import os
import signal as signals
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from bench.chaos import Stack, _admin, free_port, get, reset

COOLDOWN_S = 30


class Client(threading.Thread):
    """Calls the demo's shared port every 20 ms; remembers when a call failed."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.halt = port, threading.Event()
        self.ok = 0
        self.failures: list[float] = []

    def run(self) -> None:
        while not self.halt.wait(0.02):
            status, _, _ = get(f"http://127.0.0.1:{self.port}/api/orders", timeout=2.0)
            if status == 200:
                self.ok += 1
            else:
                self.failures.append(time.monotonic())

    def since(self, t0: float) -> tuple[int, float]:
        """(failed requests, seconds from the first failure to the last) since ``t0``."""
        failed = [t for t in self.failures if t >= t0]
        return len(failed), (failed[-1] - failed[0]) if len(failed) > 1 else 0.0


def _ready(config: dict[str, Any], entry: dict[str, Any]) -> bool:
    url = config["ready_url"].replace("{port}", str(config["port_base"] + entry["replica"]))
    return get(url, timeout=1.0)[0] == 200


@dataclass
class Crash:
    ours_failed: int = 0
    ours_span: float = 0.0
    ours_healed_s: float | None = None
    all_failed: int = 0
    all_span: float = 0.0
    all_s: float = 0.0
    served: int = 0


def replica_crash(stack: Stack) -> Crash:
    from core314.demo.services import DEMO_NAME
    from recovery.models import Actuator
    from recovery.services import process_control

    admin = _admin()
    reset(stack)
    actuator = Actuator.objects.get(component__name=DEMO_NAME, kind="process")
    process_control(actor=admin, actuator=actuator, operation="restart", replicas=3)
    actuator.refresh_from_db()
    deadline = time.monotonic() + 30
    while not all(_ready(actuator.config, e) for e in actuator.state["replicas"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(4)
    client = Client(stack.demo_port)
    client.start()
    time.sleep(2)
    result = Crash()
    victim = actuator.state["replicas"][1]
    t0 = time.monotonic()
    os.kill(victim["pid"], signals.SIGKILL)
    while time.monotonic() - t0 < 60:
        actuator.refresh_from_db()
        fresh = [e for e in actuator.state.get("replicas", []) if e["replica"] == 1 and e["pid"] != victim["pid"]]
        if fresh and _ready(actuator.config, fresh[0]):
            result.ours_healed_s = time.monotonic() - t0
            break
        time.sleep(0.1)
    time.sleep(2)
    result.ours_failed, result.ours_span = client.since(t0)
    # Today's way: restart the service, all of its replicas at once.
    t1 = time.monotonic()
    process_control(actor=admin, actuator=actuator, operation="restart", replicas=3)
    actuator.refresh_from_db()
    while not all(_ready(actuator.config, e) for e in actuator.state["replicas"]) and time.monotonic() - t1 < 30:
        time.sleep(0.05)
    result.all_s = time.monotonic() - t1
    time.sleep(2)
    result.all_failed, result.all_span = client.since(t1)
    client.halt.set()
    client.join()
    result.served = client.ok
    print(f"fleet: replica crash {result}", flush=True)
    return result


@dataclass
class Scale:
    out_s: float | None = None
    healed_s: float | None = None
    back_s: float | None = None
    replicas: list[int] = field(default_factory=list)
    waited: str = ""


def cpu_scale(stack: Stack) -> Scale:
    from django.utils import timezone

    from core314.demo.services import DEMO_NAME, fault_inject, faults_clear
    from recovery.models import RecoveryAction, ScaleOut

    admin = _admin()
    reset(stack)
    result = Scale()
    start = timezone.now()
    t0 = time.monotonic()
    fault_inject(actor=admin, kind="cpu")
    actions = RecoveryAction.objects.filter(component__name=DEMO_NAME, created_at__gte=start)
    while time.monotonic() - t0 < 300:
        if result.out_s is None and actions.filter(action_type="scale_up", started_at__isnull=False).exists():
            result.out_s = time.monotonic() - t0
        healing = actions.filter(action_type__in=["scale_up", "restart_function"], verdict="resolved")
        if result.healed_s is None and healing.exists():
            result.healed_s = time.monotonic() - t0
        scale_out = ScaleOut.objects.filter(component__name=DEMO_NAME, started_at__gte=start).first()
        if scale_out is not None:
            result.waited = scale_out.waiting or result.waited
            if scale_out.ended_at is not None:
                result.back_s = time.monotonic() - t0
                result.replicas = [scale_out.from_replicas or 0, scale_out.replicas or 0]
                break
        time.sleep(0.5)
    faults_clear(actor=admin)
    print(f"fleet: cpu scale {result}", flush=True)
    return result


class _Hook(http.server.BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Storm:
    failing: int = 0
    components: int = 0
    first_minute: int = 0
    actions: int = 0
    most_in_flight: int = 0
    escalations: int = 0
    all_served_s: float | None = None
    budget: str = ""
    hook_calls: int = 0


def storm(stack: Stack, failing: int = 50, quiet: int = 150) -> Storm:
    import json

    from django.conf import settings
    from django.utils import timezone

    from core314 import services as core
    from health.models import Component
    from health.services import component_create
    from recovery.models import Actuator, RecoveryAction, RecoveryPolicy
    from recovery.services import policy_save

    admin = _admin()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/heal"
    names = [f"storm-{n:03d}" for n in range(failing + quiet)]
    for name in names:
        component = Component.objects.filter(owner=admin, name=name).first() or component_create(
            actor=None, owner=admin, name=name, tags=["storm"]
        )
        Actuator.objects.get_or_create(
            owner=admin, component=component, kind="webhook",
            defaults={"config": {"url": hook, "secret": "bench-secret-0123456789", "timeout_s": 3}},
        )  # fmt: skip
    if not RecoveryPolicy.objects.filter(owner=admin, name="Storm: restart on a breach").exists():
        policy_save(
            actor=None, owner=admin, name="Storm: restart on a breach", priority=0, kinds=["threshold_breach"],
            tag="storm", min_severity="medium", action_type="restart_function", mode="automatic", chain=[],
            verify_after_s=10, cooldown_s=10,
        )  # fmt: skip
    account = core.service_account_create(actor=admin, owner=admin, name=f"storm-{int(time.time())}")
    token = core.api_token_create(actor=admin, service_account=account, name="storm").plaintext
    now = time.time()
    events = [
        {"component_name": name, "window_start": now - 2 * (6 - w), "error_rate": 0.6 if i < failing else 0.0,
         "latency_p95_ms": 80.0, "availability": 1.0}
        for i, name in enumerate(names)
        for w in range(6)
    ]  # fmt: skip
    start = timezone.now()
    t0 = time.monotonic()
    for chunk in range(0, len(events), 1000):
        request = urllib.request.Request(
            f"http://127.0.0.1:{stack.port}/api/v1/health-events/batch/",
            data=json.dumps({"events": events[chunk : chunk + 1000]}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 -- the bench's own stack
            response.read()
    result = Storm(failing=failing, components=len(names))
    result.budget = (
        f"{settings.CORE314_HEALING_MAX_IN_FLIGHT_PER_USER} in flight and "
        f"{settings.CORE314_HEALING_MAX_PER_MINUTE_PER_USER} per minute per user"
    )
    ours = RecoveryAction.objects.filter(component__tags__contains=["storm"], created_at__gte=start)
    acting = ours.exclude(action_type="alert_escalation")
    while time.monotonic() - t0 < 240:
        result.most_in_flight = max(result.most_in_flight, acting.filter(in_flight=True).count())
        if time.monotonic() - t0 <= 60:
            result.first_minute = acting.count()
        if acting.values("component").distinct().count() >= failing:
            result.all_served_s = time.monotonic() - t0
            break
        time.sleep(0.5)
    result.actions = acting.count()
    result.escalations = RecoveryAction.objects.filter(
        action_type="alert_escalation", created_at__gte=start, reason__contains="healing budget"
    ).count()
    result.hook_calls = _Hook.calls
    server.shutdown()
    Component.objects.filter(owner=admin, tags__contains=["storm"]).delete()
    RecoveryPolicy.objects.filter(owner=admin, name="Storm: restart on a breach").delete()
    print(f"fleet: storm {result}", flush=True)
    return result


def section(crash: Crash, scale: Scale, storm_: Storm) -> str:
    def s(value: float | None) -> str:
        return f"{value:.1f}" if value is not None else "—"

    return "\n".join([
        "## Fleet",
        "",
        "`python -m bench fleet`: on the chaos bench's stack, with the demo at three replicas sharing one port.",
        "",
        "| one replica of three crashed (SIGKILL) | failed requests | failing for (s) | back (s) |",
        "|---|---|---|---|",
        f"| Core314: only that replica restarted | {crash.ours_failed} | {s(crash.ours_span)} "
        f"| {s(crash.ours_healed_s)} |",
        f"| a restart of all three at once (ceiling) | {crash.all_failed} | {s(crash.all_span)} | {s(crash.all_s)} |",
        "",
        f"A client called the shared port every 20 ms ({crash.served} answered in all).",
        "",
        f"| CPU fault (cool-down {COOLDOWN_S} s) | scaled out at (s) | healed at (s) | back at (s) | replicas |",
        "|---|---|---|---|---|",
        f"| demo-shop | {s(scale.out_s)} | {s(scale.healed_s)} | {s(scale.back_s)} "
        f"| {' → '.join(map(str, scale.replicas)) or '—'} |",
        "",
        f"| storm: {storm_.failing} of {storm_.components} components fail at once | value |",
        "|---|---|",
        f"| automatic actions in the first minute | {storm_.first_minute} |",
        f"| automatic actions in all (until each failing component had one) | {storm_.actions} |",
        f"| most in flight at once | {storm_.most_in_flight} |",
        f"| the budget (ceiling) | {storm_.budget} |",
        f"| storm escalations sent | {storm_.escalations} |",
        f"| every failing component served after (s) | {s(storm_.all_served_s)} |",
        "",
    ])  # fmt: skip


def run() -> str:
    os.environ["CORE314_SCALE_IN_COOLDOWN"] = str(COOLDOWN_S)
    stack = Stack(database="core314_bench_fleet", prefix="core314fleet")
    stack.start()
    try:
        crash = replica_crash(stack)
        scale = cpu_scale(stack)
        storm_ = storm(stack)
        reset(stack)
    finally:
        stack.stop()
    return section(crash, scale, storm_)
