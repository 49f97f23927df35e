from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import screenshot
from tests.factories import ComponentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _post(url: str, token: str, body: Any) -> int:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def test_the_monitor_shows_my_components_and_new_events_arrive_live(
    page_for: Any, asgi_server: str, owner: Any, other_user: Any, service_account: Any
) -> None:
    mine = ComponentFactory(owner=owner, name="checkout-api")
    ComponentFactory(owner=other_user, name="someone-elses-db")
    page = page_for("alice")
    page.wait_for_selector("#live-status[data-state=open]", timeout=5000)
    assert page.locator('[data-component="checkout-api"]').count() == 1
    assert page.locator("text=someone-elses-db").count() == 0
    assert page.locator("#health-events tbody tr[data-id]").count() == 0

    started = time.monotonic()
    window = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    status = _post(
        f"{asgi_server}/api/v1/health-events/",
        service_account.token,
        {"component": mine.pk, "window_start": window, "latency_p95_ms": 2345, "error_rate": 0.01},
    )
    assert status == 201
    page.wait_for_selector("#health-events tbody tr[data-id]", timeout=1000)  # within a second, no reload
    elapsed = time.monotonic() - started
    row = page.locator("#health-events tbody tr[data-id]").first.inner_text()
    assert "checkout-api" in row and "2345 ms" in row and "unhealthy" in row.lower()  # CSS capitalises
    screenshot(page, "system-monitor")
    print(f"API write → row visible in the browser: {elapsed * 1000:.0f} ms")
    assert page.console_errors == []


def test_filters_and_the_component_page(page_for: Any, owner: Any) -> None:
    from tests.factories import HealthEventFactory

    api = ComponentFactory(owner=owner, name="api", type="api")
    db = ComponentFactory(owner=owner, name="db", type="database")
    HealthEventFactory(component=api, status="critical")
    HealthEventFactory(component=db, status="healthy")
    page = page_for("alice")
    page.select_option("select[name=status]", "critical")
    page.wait_for_url("**status=critical**")
    rows = page.locator("#health-events tbody tr[data-id]")
    assert rows.count() == 1 and "api" in rows.first.inner_text()
    page.click('[data-component="db"]')
    page.wait_for_url(f"**/system-monitor/components/{db.pk}")
    assert page.locator("h1").inner_text().startswith("db")
    screenshot(page, "component-detail")
    assert page.console_errors == []
