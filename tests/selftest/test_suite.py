"""The self-test suite on a live stack: every check passes when all is well, Redis going away fails exactly the
checks that need it, a hanging check is cut off, regressions and improvements are flagged."""

from __future__ import annotations

import time
from typing import Any

import pytest

from anomalies.models import AnomalySignal
from health.models import Component, SystemHealthEvent
from recovery.models import RecoveryAction
from selftest import registry, services
from selftest.models import SelfTestResult
from selftest.registry import Check, Outcome, run_check
from tests.processes import celery_beat, celery_worker, redis_server

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_check_passes_on_a_healthy_stack_and_the_drill_runs_the_whole_loop(admin: Any) -> None:
    with celery_worker(concurrency=2), celery_beat():
        run = services.run_create(actor=admin, trigger="manual")
        run = services.run_execute(run_id=run.pk)
    results = {r.check_name: r for r in SelfTestResult.objects.filter(run=run)}
    assert set(results) == {c.name for c in registry.checks_in()}
    failing = {name: f"{r.result}: {r.message}" for name, r in results.items() if r.result != "pass"}
    assert failing == {}
    assert run.status == "passed" and run.health_score > 50

    drill = results["fire_drill"].metrics
    for stage in ("fault_to_signal_ms", "signal_to_action_ms", "recovery_to_resolved_ms"):
        assert 0 < drill[stage] < 45_000, drill
    signal = AnomalySignal.objects.get(pk=drill["signal_id"])
    assert signal.status == "resolved" and signal.component.name == "core314-firedrill"
    assert RecoveryAction.objects.get(pk=drill["action_id"]).mode == "dry_run"
    assert Component.objects.get(name="core314-firedrill").tags == ["firedrill"]


def test_with_redis_stopped_its_checks_fail_clearly_and_the_others_still_run(admin: Any, settings: Any) -> None:
    with redis_server() as (url, stop):
        settings.REDIS_URL = url
        settings.CHANNEL_LAYERS = {
            "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
        }
        up = {c.name: run_check(c)[0] for c in registry.checks_in(["infrastructure"])}
        assert up["redis"].result == "pass" and up["channel_layer"].result == "pass"
        stop()
        run = services.run_create(actor=admin, trigger="manual", categories=["infrastructure"])
        run = services.run_execute(run_id=run.pk)
    results = {r.check_name: r for r in SelfTestResult.objects.filter(run=run)}
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert results["redis"].result == "fail"
    assert f"Redis at 127.0.0.1:{port} does not answer" in results["redis"].message
    assert results["channel_layer"].result == "fail"
    assert "the channel layer does not deliver" in results["channel_layer"].message
    # The rest ran and said what they found.
    assert results["database"].result == "pass" and results["migrations"].result == "pass"
    assert results["disk_space"].result in {"pass", "warn"}
    assert run.status == "failed"


def test_a_hanging_check_is_cut_at_its_timeout() -> None:
    hangs = Check("hangs", "api", 0.3, lambda: time.sleep(5) or Outcome("pass", 100, "never"))
    started = time.monotonic()
    outcome, took = run_check(hangs)
    assert (outcome.result, outcome.message) == ("error", "timed out after 0.3 s")
    assert time.monotonic() - started < 1.0 and 250 < took < 1000

    broken = Check("broken", "api", 1, lambda: 1 / 0)
    assert run_check(broken)[0].message == "ZeroDivisionError: division by zero"


def test_regressions_and_improvements_are_flagged(admin: Any, monkeypatch: Any) -> None:
    script = iter([Outcome("pass", 100, "ok"), Outcome("fail", 0, "down"), Outcome("pass", 100, "ok again")])
    flaky = Check("flaky", "api", 2, lambda: next(script))
    monkeypatch.setattr(registry, "checks_in", lambda categories=None: [flaky])
    monkeypatch.setattr(services, "checks_in", lambda categories=None: [flaky])
    rows = []
    for _ in range(3):
        run = services.run_create(actor=admin, trigger="manual")
        services.run_execute(run_id=run.pk)
        rows.append(SelfTestResult.objects.get(run=run))
    assert [(r.result, r.regression, r.improvement) for r in rows] == [
        ("pass", False, False),
        ("fail", True, False),
        ("pass", False, True),
    ]
    assert rows[1].metrics["change"] == "pass → fail"


def test_a_failing_run_becomes_a_health_event_of_the_platform(admin: Any, monkeypatch: Any) -> None:
    from health.services import platform_components_ensure

    platform_components_ensure(actor=None, owner=admin)
    failing = Check("doomed", "api", 2, lambda: Outcome("fail", 0, "it broke"))
    monkeypatch.setattr(services, "checks_in", lambda categories=None: [failing])
    run = services.run_execute(run_id=services.run_create(actor=admin, trigger="manual").pk)
    event = SystemHealthEvent.objects.get(component__name="core314-selftest")
    assert event.status == "unhealthy" and event.error_rate == 1.0
    assert event.metadata == {"run": run.pk, "failed": ["doomed: it broke"]}


def test_the_api_triggers_a_run_and_summarises(
    owner: Any, api_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    api = api_for(owner)
    bad = api.post("/api/v1/selftest-runs/trigger/", {"categories": ["astrology"]}, format="json")
    assert bad.status_code == 400
    started = api.post("/api/v1/selftest-runs/trigger/", {"categories": ["detection"]}, format="json")
    assert started.status_code == 202 and started.json()["status"] == "running"  # a worker would run it
    busy = api.post("/api/v1/selftest-runs/trigger/", {}, format="json")
    assert busy.status_code == 400 and "already in progress" in busy.json()["detail"]
    services.run_execute(run_id=started.json()["id"])
    summary = api.get("/api/v1/selftest-runs/summary/").json()
    assert summary["status"] == "passed" and summary["counts"]["pass"] == 1
    assert summary["by_category"] == {"detection": {"pass": 1}}


def test_every_page_says_when_the_self_tests_stopped(admin: Any, client_for: Any, settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from selftest.models import SelfTestRun

    settings.CORE314_SELFTEST_INTERVAL = 60
    SelfTestRun.objects.create(owner=admin, trigger="schedule", started_at=timezone.now() - timedelta(minutes=10))
    page = client_for(admin).get("/system-monitor").content.decode()
    assert 'id="deadman-banner"' in page and "have not run for 10 min" in page
    SelfTestRun.objects.create(owner=admin, trigger="schedule")
    assert 'id="deadman-banner"' not in client_for(admin).get("/system-monitor").content.decode()
