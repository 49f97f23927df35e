from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from core314.redis import get_redis, key
from selftest.models import SelfTestRun

pytestmark = pytest.mark.django_db


def _beat_and_worker(worker_age: float = 1.0, beat_age: float = 1.0) -> None:
    redis = get_redis()
    redis.hset(key("heartbeat:worker"), "w1@test", time.time() - worker_age)
    redis.set(key("heartbeat:beat"), time.time() - beat_age)


def test_healthz_answers_without_checking_anything(client: Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_200_when_every_part_is_up(client: Client, admin: Any) -> None:
    _beat_and_worker()
    SelfTestRun.objects.create(owner=admin, trigger="schedule")
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "worker", "beat", "selftest"}


def test_readyz_says_when_the_self_tests_stopped_running(client: Client, admin: Any, settings: Any) -> None:
    """The dead man's switch: no scheduled self-test run for three intervals is a readiness failure."""
    _beat_and_worker()
    settings.CORE314_SELFTEST_INTERVAL = 60
    SelfTestRun.objects.create(owner=admin, trigger="schedule", started_at=timezone.now() - timedelta(minutes=4))
    response = client.get("/readyz")
    assert response.status_code == 503
    detail = response.json()["checks"]["selftest"]["detail"]
    assert detail.startswith("the self-tests have not run for 4 min (expected every 60 s)")


def test_readyz_names_a_missing_worker(client: Client) -> None:
    get_redis().set(key("heartbeat:beat"), time.time())
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["worker"] == {
        "ok": False,
        "detail": "no Celery worker has reported",
        "latency_ms": pytest.approx(checks["worker"]["latency_ms"]),
    }
    assert checks["database"]["ok"] and checks["redis"]["ok"] and checks["beat"]["ok"]


def test_readyz_names_a_stalled_beat_and_a_silent_worker(client: Client) -> None:
    _beat_and_worker(worker_age=120, beat_age=300)
    checks = client.get("/readyz").json()["checks"]
    assert not checks["beat"]["ok"] and "300 s ago" in checks["beat"]["detail"]
    assert not checks["worker"]["ok"] and "no worker heartbeat" in checks["worker"]["detail"]


def test_readyz_names_an_unreachable_redis(client: Client, settings: Any, monkeypatch: Any) -> None:
    import redis

    from core314 import redis as platform_redis

    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(platform_redis, "get_redis", lambda: dead)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False
    assert "Connection" in response.json()["checks"]["redis"]["detail"]


def test_metrics_are_in_the_prometheus_format(client: Client) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'core314_http_requests_total{method="GET",status="2xx",view="healthz"} 1.0' in text
    assert "core314_open_anomaly_signals" in text
    assert "core314_celery_queue_depth" in text


def test_metrics_from_an_outside_network_need_the_token(client: Client, settings: Any) -> None:
    settings.CORE314_METRICS_TOKEN = "s3cret-scrape"
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", **outside).status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **outside).status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape", **outside).status_code == 200


@pytest.mark.parametrize(
    "url", ["/system-monitor", "/anomaly-console", "/recovery-manager", "/selftest-panel", "/audit-log"]
)
def test_each_page_renders_for_a_signed_in_user(client_for: Any, owner: Any, url: str) -> None:
    response = client_for(owner).get(url)
    assert response.status_code == 200
    html = response.content.decode()
    for name in ["System Monitor", "Anomaly Console", "Recovery Manager", "Self-Test Panel"]:
        assert name in html  # the navigation


@pytest.mark.parametrize("url", ["/system-monitor", "/anomaly-console", "/recovery-manager", "/selftest-panel"])
def test_pages_send_anonymous_visitors_to_sign_in(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_login_page_signs_a_user_in(client: Client, owner: Any) -> None:
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "alice", "password": "pw-for-tests"})
    assert response.status_code == 302
    assert client.get("/system-monitor").status_code == 200


def test_the_htmx_refresh_renders_only_the_live_region(client_for: Any, owner: Any) -> None:
    response = client_for(owner).get("/system-monitor", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'id="health-live"' in html
    assert "<html" not in html


def test_the_events_table_pages_by_keyset(client_for: Any, owner: Any) -> None:
    from tests.factories import ComponentFactory, HealthEventFactory

    component = ComponentFactory(owner=owner)
    events = [HealthEventFactory(component=component) for _ in range(30)]
    client = client_for(owner)
    first = client.get("/system-monitor")
    assert len(first.context["page"].rows) == 25
    cursor = first.context["page"].next_cursor
    second = client.get(f"/system-monitor?after={cursor}")
    ids = [e.pk for e in first.context["page"].rows] + [e.pk for e in second.context["page"].rows]
    assert sorted(ids) == sorted(e.pk for e in events)
    assert second.context["page"].next_cursor is None
    assert client.get("/system-monitor?after=not-a-cursor").status_code == 200


INLINE = re.compile(
    r"<script(?![^>]*\b(?:src|nonce)=)(?![^>]*type=\"application/json\")[^>]*>|\son[a-z]+=\"|\sstyle=\"", re.I
)


def test_every_page_carries_a_strict_policy_and_no_inline_code(client_for: Any, admin: Any) -> None:
    """A strict CSP (no inline script, no eval) and a Permissions-Policy on every page; and no page relies on
    inline script, inline handlers or style attributes, which the policy would silently block."""
    from tests.test_tenancy_matrix import _rows_for, html_pages

    rows, _ = _rows_for(admin, "csp")

    urls = html_pages(rows)
    client = client_for(admin)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert "camera=()" in response["Permissions-Policy"]
        if not url.startswith("/admin/"):  # Django's own admin templates are checked in Chromium instead
            found = INLINE.findall(response.content.decode())
            assert found == [], (url, found)
    assert "Content-Security-Policy" in client_for(None).get("/login/")
