"""The platform's own checks. Each proves one part works, measured, with a clear message when it does not."""

from __future__ import annotations

import asyncio
import random
import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from selftest.registry import Outcome, check


def _score_latency(ms: float, good: float, bad: float) -> float:
    """100 at or under ``good`` ms, falling linearly to 0 at ``bad``."""
    if ms <= good:
        return 100.0
    return max(0.0, 100.0 * (bad - ms) / (bad - good))


def _fresh_redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


# --- infrastructure ----------------------------------------------------------------------------------------


@check("database", "infrastructure")
def database() -> Outcome:
    """PostgreSQL answers, and how fast."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    ms = (time.perf_counter() - started) * 1000
    result = "pass" if ms < 100 else "warn"
    return Outcome(result, _score_latency(ms, 20, 500), f"SELECT 1 in {ms:.1f} ms", {"latency_ms": round(ms, 2)})


@check("migrations", "infrastructure")
def migrations() -> Outcome:
    """Every migration is applied."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5])
        return Outcome("fail", 0.0, f"{len(plan)} migration(s) not applied: {names}", {"pending": len(plan)})
    return Outcome("pass", 100.0, "all migrations applied", {"pending": 0})


@check("redis", "infrastructure")
def redis_ping() -> Outcome:
    """Redis (cache, broker, channel layer) answers, and how fast."""
    client = _fresh_redis()
    try:
        started = time.perf_counter()
        client.ping()
        ms = (time.perf_counter() - started) * 1000
    except Exception as exc:
        return Outcome("fail", 0.0, f"Redis at {_where(settings.REDIS_URL)} does not answer: {exc}")
    finally:
        client.close()
    return Outcome("pass", _score_latency(ms, 5, 200), f"PING in {ms:.1f} ms", {"latency_ms": round(ms, 2)})


def _where(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


@check("broker", "infrastructure")
def broker() -> Outcome:
    """The Celery broker accepts connections; the default queue is not piling up."""
    from core314.celery import app
    from core314.selectors import queue_depth

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        depth = queue_depth()
    except Exception as exc:
        return Outcome("fail", 0.0, f"the broker does not answer: {exc}")
    if depth > 1000:
        return Outcome("fail", 20.0, f"{depth} tasks waiting: workers are not keeping up", {"queue_depth": depth})
    if depth > 100:
        return Outcome("warn", 60.0, f"{depth} tasks waiting", {"queue_depth": depth})
    return Outcome("pass", 100.0, f"broker up, {depth} task(s) waiting", {"queue_depth": depth})


@check("worker_heartbeat", "infrastructure")
def worker_heartbeat() -> Outcome:
    """At least one Celery worker has sent a heartbeat recently."""
    from core314.selectors import worker_heartbeats

    ages = worker_heartbeats()
    fresh = {n: a for n, a in ages.items() if a <= settings.CORE314_WORKER_HEARTBEAT_MAX_AGE}
    metrics = {"workers": len(fresh), "youngest_s": round(min(ages.values()), 1) if ages else None}
    if not fresh:
        return Outcome("fail", 0.0, "no worker heartbeat: nothing runs detection or healing", metrics)
    return Outcome("pass", 100.0, f"{len(fresh)} worker(s) alive", metrics)


@check("beat_tick", "infrastructure")
def beat_tick() -> Outcome:
    """Celery beat ticked recently (it schedules probes, rollups, healing and these tests)."""
    from core314.selectors import beat_age

    age = beat_age()
    if age is None:
        return Outcome("fail", 0.0, "Celery beat has never ticked")
    if age > settings.CORE314_BEAT_MAX_AGE:
        return Outcome("fail", 0.0, f"Celery beat last ticked {age:.0f} s ago", {"age_s": round(age, 1)})
    return Outcome("pass", 100.0, f"last tick {age:.1f} s ago", {"age_s": round(age, 1)})


@check("channel_layer", "infrastructure")
def channel_layer() -> Outcome:
    """A message sent through the channel layer (live updates) comes back."""
    from channels.layers import channel_layers

    layer = channel_layers.make_backend("default")  # a fresh one: no cached connection hides an outage

    async def round_trip() -> float:
        name = await layer.new_channel()
        started = time.perf_counter()
        await layer.send(name, {"type": "selftest.ping", "nonce": uuid.uuid4().hex})
        await asyncio.wait_for(layer.receive(name), timeout=2)
        return (time.perf_counter() - started) * 1000

    try:
        ms = asyncio.run(round_trip())
    except Exception as exc:
        return Outcome("fail", 0.0, f"the channel layer does not deliver: {type(exc).__name__}: {exc}"[:300])
    return Outcome("pass", _score_latency(ms, 10, 500), f"round trip in {ms:.1f} ms", {"latency_ms": round(ms, 2)})


@check("disk_space", "infrastructure")
def disk_space() -> Outcome:
    """Free space where the platform keeps its data."""
    from core314.embedded import data_dir

    path = data_dir() if data_dir().exists() else Path(settings.BASE_DIR)
    usage = shutil.disk_usage(path)
    free = usage.free / usage.total
    metrics = {"free_percent": round(100 * free, 1), "free_gb": round(usage.free / 1e9, 2)}
    if free < 0.05:
        return Outcome("fail", 0.0, f"only {free:.1%} free on {path}", metrics)
    if free < 0.10:
        return Outcome("warn", 50.0, f"{free:.1%} free on {path}", metrics)
    return Outcome("pass", 100.0, f"{free:.0%} free ({usage.free / 1e9:.1f} GB)", metrics)


# --- api ---------------------------------------------------------------------------------------------------

KEY_ENDPOINTS = [
    "/api/v1/components/",
    "/api/v1/health-events/summary/",
    "/api/v1/anomalies/statistics/",
    "/api/v1/recovery-actions/statistics/",
    "/api/v1/selftest-runs/summary/",
]


@check("api_latency", "api", timeout_s=15)
def api_latency() -> Outcome:
    """The key endpoints answer 200, through the whole middleware and permission stack, and how fast."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    with transaction.atomic():
        user = get_user_model().objects.create_user(f"selftest-{uuid.uuid4().hex[:10]}", is_active=True)
        client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS else "localhost")
        client.force_login(user)
        timings, failures = {}, []
        for path in KEY_ENDPOINTS:
            started = time.perf_counter()
            response = client.get(path, secure=settings.HTTPS)
            timings[path] = round((time.perf_counter() - started) * 1000, 1)
            if response.status_code != 200:
                failures.append(f"{path} answered {response.status_code}")
        transaction.set_rollback(True)  # the throw-away user and its session leave no trace
    slowest = max(timings.values())
    if failures:
        return Outcome("fail", 0.0, "; ".join(failures), {"latency_ms": timings})
    result = "pass" if slowest < 500 else "warn"
    message = f"{len(timings)} endpoints, slowest {slowest:.0f} ms"
    return Outcome(result, _score_latency(slowest, 100, 2000), message, {"latency_ms": timings})


# --- detection ---------------------------------------------------------------------------------------------


@check("detector", "detection")
def detector() -> Outcome:
    """The production detector flags a synthetic spike and stays quiet on a normal series."""
    from anomalies.detector import Detector, DetectorConfig

    rng = random.Random(314)  # noqa: S311 -- synthetic data, not security
    config = DetectorConfig()
    normal, spiky = Detector(config), Detector(config)
    false_alarms = 0
    for i in range(300):
        value = 120 + rng.gauss(0, 6)
        false_alarms += normal.update(float(i * 10), value).opened
        spiky.update(float(i * 10), value)
    caught = [spiky.update(float((300 + i) * 10), 900.0).is_anomaly for i in range(3)]
    metrics = {"false_alarms": false_alarms, "caught_after": caught.index(True) + 1 if any(caught) else None}
    if false_alarms:
        return Outcome("fail", 0.0, f"{false_alarms} false alarm(s) on a normal series", metrics)
    if not any(caught):
        return Outcome("fail", 0.0, "a spike to 7.5 times the normal value was not flagged", metrics)
    return Outcome("pass", 100.0, f"spike flagged at point {metrics['caught_after']}, no false alarm", metrics)


# --- recovery ----------------------------------------------------------------------------------------------


@check("executor_plans", "recovery", timeout_s=20)
def executor_plans() -> Outcome:
    """Every executor's dry-run plan validates against every configured actuator (nothing is executed)."""
    from core314.egress import owner_privileged
    from recovery.executors import ACTUATORS_FOR, ParameterError, executor_for
    from recovery.models import Actuator

    defaults: dict[str, dict[str, Any]] = {
        "scale_up": {"by": 1},
        "scale_down": {"by": 1},
        "clear_cache": {"prefix": "core314-selftest:"},
        "reset_connection": {"application_name": "core314-selftest-none"},
        "rollback_deployment": {"to_version": ""},
    }
    checked, problems = 0, []
    for actuator in Actuator.objects.filter(enabled=True).select_related("component__owner"):
        for action_type, kinds in ACTUATORS_FOR.items():
            if actuator.kind not in kinds:
                continue
            executor = executor_for(action_type, actuator.kind)
            shown = {"kind": actuator.kind, "config": actuator.config, "state": actuator.state}
            context = {
                "component": actuator.component.name,
                "component_id": actuator.component_id,
                "actuator": shown,
                "privileged": owner_privileged(actuator.component.owner),
            }
            try:
                params = executor.clean(defaults.get(action_type, {}))
                executor.plan(params, context)
            except ParameterError as exc:
                if action_type == "rollback_deployment" or "outside" in str(exc):
                    continue  # depends on history or the current scale, not on the configuration
                problems.append(f"{actuator.component.name}/{action_type}: {exc}")
            except Exception as exc:
                problems.append(f"{actuator.component.name}/{action_type}: {type(exc).__name__}: {exc}"[:200])
            checked += 1
    metrics = {"plans": checked, "problems": len(problems)}
    if problems:
        return Outcome("fail", 100.0 * (1 - len(problems) / max(checked, 1)), "; ".join(problems[:5]), metrics)
    return Outcome("pass", 100.0, f"{checked} plan(s) valid", metrics)


# --- security ----------------------------------------------------------------------------------------------


ISOLATION_ENDPOINTS = (
    "/api/v1/components/",
    "/api/v1/anomalies/",
    "/api/v1/recovery-actions/",
    "/api/v1/health-events/",
)


@check("tenant_isolation", "security", timeout_s=15)
def tenant_isolation() -> Outcome:
    """Two throw-away users: neither reads the other's rows through the selectors or the API."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from anomalies.models import AnomalySignal
    from anomalies.selectors import signal_list
    from health.models import Component, SystemHealthEvent
    from health.selectors import component_list, health_event_list
    from recovery.models import RecoveryAction
    from recovery.selectors import action_list

    leaks: list[str] = []
    with transaction.atomic():
        users, marks = [], []
        for side in ("a", "b"):
            mark = f"selftest-{side}-{uuid.uuid4().hex[:8]}"
            user = get_user_model().objects.create_user(mark, is_active=True)
            component = Component.objects.create(owner=user, name=mark)
            now = timezone.now()
            SystemHealthEvent.objects.create(
                owner=user, component=component, window_start=now, window_end=now + timedelta(seconds=10),
                status="healthy",
            )  # fmt: skip
            signal = AnomalySignal.objects.create(owner=user, component=component, kind="latency_spike", metric=mark)
            RecoveryAction.objects.create(
                owner=user, component=component, signal=signal, action_type="restart_function"
            )
            users.append(user)
            marks.append(mark)
        for me, other_mark in ((users[0], marks[1]), (users[1], marks[0])):
            for name, rows in (
                ("components", component_list(actor=me).filter(name=other_mark)),
                ("health events", health_event_list(actor=me).filter(component__name=other_mark)),
                ("signals", signal_list(actor=me).filter(metric=other_mark)),
                ("actions", action_list(actor=me).filter(component__name=other_mark)),
            ):
                if rows.exists():
                    leaks.append(f"selector leaks {name}")
            client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS else "localhost")
            client.force_login(me)
            for path in ISOLATION_ENDPOINTS:
                body = client.get(path, secure=settings.HTTPS).content.decode()
                if other_mark in body:
                    leaks.append(f"{path} leaks another user's rows")
        transaction.set_rollback(True)  # both users and their rows vanish
    if leaks:
        return Outcome("fail", 0.0, "; ".join(sorted(set(leaks))), {"leaks": len(leaks)})
    return Outcome("pass", 100.0, "no row crossed between two users (4 selectors, 4 endpoints)", {"leaks": 0})


# --- fire drill --------------------------------------------------------------------------------------------


@check("fire_drill", "fire_drill", timeout_s=60)
def fire_drill() -> Outcome:
    """The whole loop on a drill component: a fault → a signal → a dry-run action by policy → resolved."""
    from selftest.drill import run_drill

    return run_drill()
