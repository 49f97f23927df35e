"""Chaos benchmark: inject each fault into the demo service on the real stack and time the healing.

``python -m bench chaos`` starts its own stack (``manage.py runstack`` on free ports, its own database and
Redis key prefix, 2-second health windows), then for each fault kind runs trials: inject → detection (the
signal) → action start → verified recovery (the bench's own client sees the service answer normally again: 5
requests in a row answered 200 in under 250 ms; for a leak, memory back under 50 %; for CPU, under 50 %; for
an error fault the breaker protecting clients counts as mitigation). Beside it, on a second copy of the demo
service, the way most teams heal today: a supervisor that restarts the process when it exits, plus a liveness
probe with Kubernetes' defaults (every 10 s, 1 s timeout, 3 failures → restart). Then a healthy soak counts
false signals and false actions. Results go to bench/README.md.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("hang", "crash", "latency", "leak", "cpu", "errors", "bad_release")
EXPECTED = {
    "hang": "restart_function",
    "crash": "restart_function",
    "latency": "restart_function",
    "leak": "restart_function",
    "cpu": "scale_up",
    "errors": "circuit_breaker",
    "bad_release": "rollback_deployment",
}
TRIAL_LIMIT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str, timeout: float = 1.0) -> tuple[int, float, bytes]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 -- our own local URL
            return response.status, time.perf_counter() - started, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, time.perf_counter() - started, b""
    except (OSError, http.client.HTTPException):
        # Refused, timed out, or cut mid-answer (a replica killed while answering): not an answer.
        return 0, time.perf_counter() - started, b""


def metric(port: int, name: str) -> float | None:
    status, _, body = get(f"http://127.0.0.1:{port}/metrics")
    if status != 200:
        return None
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class Watcher:
    """The bench's own client: is the service answering normally? (5 good answers in a row)"""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streak = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.is_set():
            status, took, _ = get(f"http://127.0.0.1:{self.port}/api/orders", timeout=1.0)
            self.seen = time.monotonic()
            with self.lock:
                self.streak = self.streak + 1 if status == 200 and took < 0.25 else 0
            time.sleep(0.1)

    def normal(self, streak: int = 5) -> bool:
        # A watcher that stopped looking must not report a stale "normal".
        if time.monotonic() - getattr(self, "seen", 0.0) > 2.5:
            return False
        with self.lock:
            return self.streak >= streak


def recovered(kind: str, watcher: Watcher, port: int) -> bool:
    if kind in {"errors", "bad_release"}:
        # A service failing 60 % of requests still answers 5 in a row now and then: ask for 20 (2 s).
        return watcher.normal(streak=20)
    if kind == "leak":
        value = metric(port, "demo_memory_percent")
        return value is not None and value < 50 and watcher.normal()
    if kind == "cpu":
        value = metric(port, "demo_cpu_percent")
        return value is not None and value < 50 and watcher.normal()
    return watcher.normal()


@dataclass
class Trial:
    kind: str
    healer: str
    detect_s: float | None = None
    action_s: float | None = None
    recover_s: float | None = None
    action: str = ""
    right_action: bool | None = None
    notes: list[str] = field(default_factory=list)


# --- Ours: the platform on its own stack --------------------------------------------------------------------


class Stack:
    def __init__(self, database: str = "core314_bench", prefix: str = "core314bench") -> None:
        self.database = database
        self.port = free_port()
        self.demo_port = free_port()
        self.data = ROOT / ".data" / f"bench-{prefix}"
        self.data.mkdir(parents=True, exist_ok=True)
        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        self.env = {
            **os.environ,
            "DATABASE_URL": f"{base}/{database}",
            "CORE314_REDIS_PREFIX": prefix,
            "CORE314_ROLLUP_INTERVAL": "2",
            "CORE314_PROBE_TICK": "1",
            "CORE314_SIGNAL_RESOLVE_AFTER": "4",
            "CORE314_BACKOFF_RESET": "20",
            "CORE314_DEMO_PORT": str(self.demo_port),
            "CORE314_DEMO_REPLICA_PORT_BASE": str(25_000 + os.getpid() % 4_000),  # below the ephemeral range
            "CORE314_DEMO_FAULTS": str(self.data / "faults.json"),
            "CORE314_ADMIN_PASSWORD": "bench-admin-pass",
            "CORE314_SELFTEST_INTERVAL": "3600",
            "DEBUG": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import psycopg

        admin_dsn = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.database}"')
        log = open(self.data / "stack.log", "w")  # noqa: SIM115 -- lives as long as the stack
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while get(f"http://127.0.0.1:{self.port}/readyz", timeout=2)[0] != 200:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the stack did not become ready; see {self.data / 'stack.log'}")
            time.sleep(1)
        os.environ.update({k: v for k, v in self.env.items() if k.startswith(("DATABASE", "CORE314", "DEBUG"))})
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core314.settings")
        import django

        django.setup()

    def stop(self) -> None:
        import signal

        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def _admin() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="admin")


def reset(stack: Stack) -> None:
    """A clean start for a trial: no open signal, no action in flight, breaker closed, one fresh v1 replica."""
    from django.db import transaction

    from anomalies.models import AnomalySignal
    from anomalies.services import signal_resolve
    from core314.demo.services import DEMO_NAME, faults_clear
    from recovery.models import Actuator, Backoff, CircuitBreaker, RecoveryAction
    from recovery.services import breaker_close, process_control

    admin = _admin()
    faults_clear(actor=admin)
    deadline = time.monotonic() + 60
    while RecoveryAction.objects.filter(component__name=DEMO_NAME, in_flight=True).exists():
        if time.monotonic() > deadline:
            for action in RecoveryAction.objects.filter(component__name=DEMO_NAME, in_flight=True):
                RecoveryAction.objects.filter(pk=action.pk).update(in_flight=False)
            break
        time.sleep(0.5)
    actuator = Actuator.objects.get(component__name=DEMO_NAME, kind="process")
    # Back to one fresh replica of v1: a deploy only when the version changed (a deploy starts a grace period).
    version = (actuator.state or {}).get("version", "v1")
    operation = "deploy" if version != "v1" else "restart"
    process_control(actor=admin, actuator=actuator, operation=operation, version="v1", replicas=1)
    for breaker in CircuitBreaker.objects.filter(component__name=DEMO_NAME).exclude(state="closed"):
        breaker_close(actor=admin, component=breaker.component, reason="bench reset")
    # Let the detector see a few healthy windows before the open signals are closed.
    time.sleep(8)
    for signal in AnomalySignal.objects.filter(component__name=DEMO_NAME).exclude(status="resolved"):
        signal_resolve(actor=admin, signal=signal, note="bench reset")
    with transaction.atomic():
        Backoff.objects.filter(component__name=DEMO_NAME).delete()
    time.sleep(4)


def ours(stack: Stack, kind: str, watcher: Watcher) -> Trial:
    from django.utils import timezone

    from anomalies.models import AnomalySignal
    from core314.demo.services import DEMO_NAME, fault_inject
    from recovery.models import RecoveryAction
    from recovery.services import action_approve

    admin = _admin()
    trial = Trial(kind, "core314")
    start = timezone.now()
    t0 = time.monotonic()
    fault_inject(actor=admin, kind=kind)
    approved = False
    while time.monotonic() - t0 < TRIAL_LIMIT_S:
        if trial.detect_s is None:
            signal = (
                AnomalySignal.objects.filter(component__name=DEMO_NAME, created_at__gte=start).order_by("id").first()
            )
            if signal is not None:
                trial.detect_s = (signal.created_at - start).total_seconds()
                trial.notes.append(f"first signal: {signal.kind} on {signal.metric} (#{signal.pk})")
        actions = RecoveryAction.objects.filter(component__name=DEMO_NAME, created_at__gte=start).exclude(
            action_type="alert_escalation"
        )
        pending = actions.filter(status="pending_approval").first()
        if pending is not None and not approved:
            # The operator approves at once (a person would take longer: reported apart).
            action_approve(actor=admin, action=pending, reason="bench: approved")
            approved = True
            trial.notes.append("approval step (approved at once)")
        first = actions.filter(started_at__isnull=False).order_by("started_at").first()
        if first is not None and first.started_at is not None and trial.action_s is None:
            trial.action_s = (first.started_at - start).total_seconds()
            trial.action = first.action_type
            trial.right_action = first.action_type == EXPECTED[kind]
            trial.notes.append(f"action #{first.pk} for signal #{first.signal_id}")
        if kind == "errors":
            from recovery.models import CircuitBreaker

            if CircuitBreaker.objects.filter(component__name=DEMO_NAME, state="open").exists():
                trial.recover_s = time.monotonic() - t0
                trial.notes.append("mitigated: breaker open, escalated")
                break
        elif trial.action_s is not None and recovered(kind, watcher, stack.demo_port):
            trial.recover_s = time.monotonic() - t0
            break
        time.sleep(0.05)
    return trial


# Back to back, as a new user tries it: each fault 30 s after the previous one's heal, no reset in between (a
# fault that outlives its signal, or a restart's aftermath, shows here and nowhere else).
BACK_TO_BACK = ("hang", "latency", "leak", "cpu", "crash", "bad_release", "errors")
GAP_S = 30.0


@dataclass
class Leg:
    kind: str
    trial: Trial
    pages: int = 0  # incidents opened from the injection until the next one
    aftermath_pages: int = 0  # of those, opened after the heal (the repair's own aftermath, or a relapse)
    escalations: int = 0


def back_to_back(stack: Stack, watcher: Watcher, kinds: tuple[str, ...] = BACK_TO_BACK) -> list[Leg]:
    from django.utils import timezone

    from anomalies.models import Incident
    from core314.demo.services import DEMO_NAME
    from recovery.models import RecoveryAction

    legs: list[Leg] = []
    for kind in kinds:
        start = timezone.now()
        trial = ours(stack, kind, watcher)
        healed_at = timezone.now()
        if trial.recover_s is not None:
            time.sleep(GAP_S)
        end = timezone.now()
        opened = Incident.objects.filter(component__name=DEMO_NAME, opened_at__gte=start, opened_at__lt=end)
        leg = Leg(
            kind,
            trial,
            pages=opened.count(),
            aftermath_pages=opened.filter(opened_at__gt=healed_at).count(),
            escalations=RecoveryAction.objects.filter(
                component__name=DEMO_NAME, action_type="alert_escalation", created_at__gte=start, created_at__lt=end
            ).count(),
        )
        legs.append(leg)
        print(f"back to back {kind}: {leg}", flush=True)
    return legs


def back_to_back_section(legs: list[Leg]) -> str:
    lines = [
        "### Back to back",
        "",
        f"Each fault injected {GAP_S:.0f} s after the previous one was healed, with no reset in between (order: "
        f"{', '.join(BACK_TO_BACK)}). *Pages* = incidents opened from the injection until the next one (one fault "
        "should be one page); *after the heal* = incidents opened between the heal and the next injection (a "
        "restart's catch-up traffic, a relapse).",
        "",
        "| fault | healed in (s) | first action | pages | after the heal | escalations |",
        "|---|---|---|---|---|---|",
    ]
    for leg in legs:
        healed = f"{leg.trial.recover_s:.1f}" if leg.trial.recover_s is not None else "not in 60 s"
        lines.append(
            f"| {leg.kind} | {healed} | {leg.trial.action or '-'} | {leg.pages} | {leg.aftermath_pages} "
            f"| {leg.escalations} |"
        )
    return "\n".join([*lines, ""])


# --- Today's way: a supervisor plus a Kubernetes-default liveness probe -------------------------------------


class Baseline:
    PERIOD_S, TIMEOUT_S, FAILURES = 10.0, 1.0, 3

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.faults = data / "baseline-faults.json"
        self.faults.write_text(json.dumps({"faults": []}))
        self.version = "v1"
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self._spawn()
        threading.Thread(target=self._supervise, daemon=True).start()
        threading.Thread(target=self._liveness, daemon=True).start()

    def _spawn(self) -> None:
        env = {**os.environ, "CORE314_DEMO_FAULTS": str(self.faults), "CORE314_VERSION": self.version}
        env.pop("CORE314_DEMO_STATS", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "core314.demo.shop", "--port", str(self.port)], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while get(f"http://127.0.0.1:{self.port}/api/health")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self) -> None:
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._spawn()
            self.restarts += 1

    def _supervise(self) -> None:
        while not self.stopped.is_set():
            if self.process is not None and self.process.poll() is not None:
                self.restart()  # the process exited: start it again (systemd/supervisord's Restart=always)
            time.sleep(0.1)

    def _liveness(self) -> None:
        failures = 0
        while not self.stopped.wait(self.PERIOD_S):
            status, _, _ = get(f"http://127.0.0.1:{self.port}/api/health", timeout=self.TIMEOUT_S)
            failures = 0 if status == 200 else failures + 1
            if failures >= self.FAILURES:
                failures = 0
                self.restart()

    def inject(self, kind: str) -> None:
        if kind == "bad_release":
            self.version = "v2"
            self.restart()  # a deploy of the bad version
            return
        self.faults.write_text(json.dumps({"faults": [{"kind": kind, "at": time.time()}]}))

    def reset(self) -> None:
        self.faults.write_text(json.dumps({"faults": []}))
        self.version = "v1"
        self.restart()
        time.sleep(2)

    def close(self) -> None:
        self.stopped.set()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()


def baseline(base: Baseline, kind: str, watcher: Watcher, limit_s: float) -> Trial:
    trial = Trial(kind, "supervisor + liveness")
    restarts = base.restarts
    t0 = time.monotonic()
    base.inject(kind)
    time.sleep(0.5)
    while time.monotonic() - t0 < limit_s:
        if base.restarts > restarts and trial.action_s is None:
            trial.action_s = time.monotonic() - t0
            trial.action = "restart"
            trial.right_action = EXPECTED[kind] == "restart_function"
        if trial.action_s is not None and recovered(kind, watcher, base.port):
            trial.recover_s = time.monotonic() - t0
            break
        time.sleep(0.05)
    if kind == "bad_release":
        trial.action_s = None  # the deploy itself restarted it; nothing healed
        trial.action = ""
    return trial


# --- Soak ---------------------------------------------------------------------------------------------------


def soak(minutes: float) -> dict[str, float]:
    from django.utils import timezone

    from anomalies.models import AnomalySignal
    from core314.demo.services import DEMO_NAME
    from recovery.models import RecoveryAction

    start = timezone.now()
    time.sleep(minutes * 60)
    signals = AnomalySignal.objects.filter(created_at__gte=start)
    actions = RecoveryAction.objects.filter(created_at__gte=start)
    return {
        "minutes": minutes,
        "demo_signals": signals.filter(component__name=DEMO_NAME).count(),
        "demo_actions": actions.filter(component__name=DEMO_NAME).exclude(action_type="alert_escalation").count(),
        "all_signals": signals.count(),
        "all_actions": actions.exclude(action_type="alert_escalation").count(),
        "escalations": actions.filter(action_type="alert_escalation").count(),
    }


# --- Report -------------------------------------------------------------------------------------------------


def _fmt(values: list[float | None], pick: Callable[[list[float]], float]) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "-"
    text = f"{pick(got):.1f}"
    return text + (f" ({len(values) - len(got)} missed)" if len(got) < len(values) else "")


def section(ours_trials: list[Trial], base_trials: list[Trial], soaked: dict[str, float]) -> str:
    lines = [
        "## Chaos: time to heal each fault, against a supervisor plus a Kubernetes-default liveness probe",
        "",
        "Faults injected into the demo service on the real stack (daphne, Celery worker and beat, PostgreSQL, "
        "Redis; 2 s health windows). Seconds from injection; *recovered* = the bench's own client sees 5 "
        "answers in a row, 200 in under 250 ms (leak/CPU: also memory/CPU under 50 %; errors: the breaker open "
        f'for clients, and a person told). A trial stops at {TRIAL_LIMIT_S:.0f} s ("missed").',
        "",
        "| fault | trials | detect median / worst | action median / worst | recovered median / worst "
        "| right action | baseline recovered median / worst | baseline ÷ ours |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        mine = [t for t in ours_trials if t.kind == kind]
        theirs = [t for t in base_trials if t.kind == kind]
        if not mine:
            continue
        rec = [t.recover_s for t in mine]
        base_rec = [t.recover_s for t in theirs]
        right = sum(1 for t in mine if t.right_action)
        ratio = "-"
        ours_ok = [v for v in rec if v is not None]
        base_ok = [v for v in base_rec if v is not None]
        if ours_ok and base_ok:
            ratio = f"{statistics.median(base_ok) / statistics.median(ours_ok):.1f}x"
        elif ours_ok and theirs:
            ratio = f"∞ (not healed in {TRIAL_LIMIT_S:.0f} s)"
        lines.append(
            f"| {kind} | {len(mine)} | {_fmt([t.detect_s for t in mine], statistics.median)} / "
            f"{_fmt([t.detect_s for t in mine], max)} | {_fmt([t.action_s for t in mine], statistics.median)} / "
            f"{_fmt([t.action_s for t in mine], max)} | {_fmt(rec, statistics.median)} / {_fmt(rec, max)} | "
            f"{right}/{len(mine)} ({', '.join(sorted({t.action for t in mine if t.action})) or 'none'}) | "
            f"{_fmt(base_rec, statistics.median) if theirs else 'not run'} / {_fmt(base_rec, max) if theirs else ''} "
            f"| {ratio} |"
        )
    lines += [
        "",
        f"Healthy soak, {soaked['minutes']:g} min with the demo's normal noise: **{soaked['demo_signals']} false "
        f"signal(s) and {soaked['demo_actions']} false action(s) on the demo service**; over every component "
        f"(the platform's own included): {soaked['all_signals']} signal(s), {soaked['all_actions']} action(s), "
        f"{soaked['escalations']} escalation(s).",
        "",
    ]
    return "\n".join(lines)


def run(trials: int = 5, soak_minutes: float = 10.0, kinds: tuple[str, ...] = KINDS) -> str:
    stack = Stack()
    stack.start()
    results: list[Trial] = []
    base_results: list[Trial] = []
    try:
        from recovery.models import RecoveryPolicy
        from recovery.services import policy_save

        # 35 trials in half an hour would hit the demo policies' hourly caps (which exist to stop a loop).
        for policy in RecoveryPolicy.objects.filter(name__startswith="Demo:"):
            policy_save(actor=_admin(), owner=policy.owner, policy=policy, max_per_hour=1000)
        watcher = Watcher(stack.demo_port)
        time.sleep(60)  # the detector learns the service's normal first
        for kind in kinds:
            for n in range(trials):
                reset(stack)
                trial = ours(stack, kind, watcher)
                results.append(trial)
                print(f"ours {kind} #{n + 1}: {trial}", flush=True)
        reset(stack)
        legs = back_to_back(stack, watcher)
        watcher.stop.set()
        base = Baseline(stack.data)
        base_watch = Watcher(base.port)
        try:
            for kind in kinds:
                # The baseline can only act on what its liveness probe sees (hang) or an exit (crash); for the
                # rest one trial shows that nothing happens.
                runs = trials if kind in {"hang", "crash"} else 1
                for n in range(runs):
                    base.reset()
                    time.sleep(3)
                    trial = baseline(base, kind, base_watch, TRIAL_LIMIT_S)
                    base_results.append(trial)
                    print(f"baseline {kind} #{n + 1}: {trial}", flush=True)
        finally:
            base_watch.stop.set()
            base.close()
        reset(stack)
        soaked = soak(soak_minutes)
        print(f"soak: {soaked}", flush=True)
    finally:
        stack.stop()
    text = section(results, base_results, soaked) + "\n" + back_to_back_section(legs)
    (stack.data / "results.json").write_text(
        json.dumps(
            {
                "ours": [t.__dict__ for t in results],
                "baseline": [t.__dict__ for t in base_results],
                "soak": soaked,
                "back_to_back": [{**leg.__dict__, "trial": leg.trial.__dict__} for leg in legs],
            },
            indent=1,
        )
    )
    return text
