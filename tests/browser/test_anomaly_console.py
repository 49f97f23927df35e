from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from django.utils import timezone

from tests.browser.conftest import screenshot
from tests.factories import AnomalySignalFactory, ComponentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_filter_open_acknowledge_and_see_a_new_signal_live(
    page_for: Any, asgi_server: str, owner: Any, service_account: Any
) -> None:
    api = ComponentFactory(owner=owner, name="checkout-api")
    db = ComponentFactory(owner=owner, name="orders-db", type="database")
    AnomalySignalFactory(component=api, severity="high", explanation="p95 latency 900 ms vs expected 120 ms")
    AnomalySignalFactory(component=db, severity="low", kind="error_rate_increase", metric="error_rate")
    page = page_for("alice")
    page.goto("/anomaly-console")
    page.wait_for_selector("#live-status[data-state=open]", timeout=5000)
    assert page.locator("#anomaly-signals tbody tr[data-id]").count() == 2

    page.select_option("select[name=severity]", "high")
    page.wait_for_url("**severity=high**")
    rows = page.locator("#anomaly-signals tbody tr[data-id]")
    assert rows.count() == 1 and "checkout-api" in rows.first.inner_text()

    page.click("[data-action=acknowledge]")
    page.wait_for_selector("text=Signal acknowledged.")
    # Compare lower-case: the badge is capitalised by CSS, which may not have applied yet.
    assert "acknowledged" in page.locator("#anomaly-signals tbody tr[data-id]").first.inner_text().lower()
    page.click("#anomaly-signals tbody tr[data-id] td:nth-child(3) a")
    page.wait_for_selector("text=Evidence")
    assert "900 ms" in page.content()

    # A new anomaly, detected from events pushed through the API, appears on the open console without reload.
    page.goto("/anomaly-console")
    page.wait_for_selector("#live-status[data-state=open]", timeout=5000)
    payments = ComponentFactory(owner=owner, name="payments")
    start = timezone.now() - dt.timedelta(minutes=20)
    rng = random.Random(2)
    events = [
        {"component": payments.pk, "window_start": (start + dt.timedelta(seconds=10 * i)).isoformat(),
         "latency_p95_ms": 150 + rng.gauss(0, 5)}
        for i in range(60)
    ] + [{"component": payments.pk, "window_start": (start + dt.timedelta(seconds=610)).isoformat(),
          "latency_p95_ms": 3000}]  # fmt: skip
    # The live server has no worker in this test: run detection in the test process as the worker would.
    from anomalies.services import signals_detect
    from health.services import health_events_ingest

    health_events_ingest(actor=service_account.user, items=events)
    signals_detect(component_id=payments.pk)
    page.wait_for_selector("#anomaly-signals tbody tr[data-id]:has-text('payments')", timeout=3000)
    screenshot(page, "anomaly-console")
    assert page.console_errors == []


def test_one_incident_per_fault_at_the_top_its_page_and_a_verdict(page_for: Any, asgi_server: str, owner: Any) -> None:
    """A hang raises two signals on one service and a symptom on the API that depends on it: the console shows
    one incident with its three signals; its page has the timeline; a person marks it real."""
    from django.db import transaction

    from anomalies.services import incident_attach

    db = ComponentFactory(owner=owner, name="orders-db", type="database")
    api = ComponentFactory(owner=owner, name="checkout-api")
    api.depends_on.add(db)
    now = timezone.now()
    members = [
        AnomalySignalFactory(component=db, kind="availability_drop", metric="availability", severity="critical"),
        AnomalySignalFactory(component=db, kind="latency_spike", metric="latency_p95_ms", severity="high"),
        AnomalySignalFactory(component=api, kind="error_rate_increase", metric="error_rate", severity="high"),
    ]
    for signal in members:
        with transaction.atomic():
            incident_attach(signal=signal, now=now)
    page = page_for("alice")
    page.goto("/anomaly-console")
    page.wait_for_selector("#live-status[data-state=open]", timeout=5000)
    rows = page.locator("#incidents tbody tr[data-id]")
    assert rows.count() == 1
    assert rows.first.locator(".chip").count() == 3 and "orders-db" in rows.first.inner_text()
    screenshot(page, "anomaly-console-incidents")
    rows.first.locator("a", has_text="Open").click()
    page.wait_for_selector("#incident-signals tr[data-id]")
    assert page.locator("#incident-signals tr[data-id]").count() == 3
    page.click("[data-feedback=real]")
    page.wait_for_selector("text=the report card counts it")
    screenshot(page, "incident")
    page.goto("/anomaly-console")
    page.wait_for_selector("#report-card tr[data-component='orders-db']")
    assert "100 %" in page.locator("#report-card tr[data-component='orders-db']").inner_text()
    page.goto(f"/anomaly-console/components/{db.pk}/detection")
    page.wait_for_selector("#threshold-backtest")
    screenshot(page, "detection-settings")
    assert page.console_errors == []
