from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.utils import timezone

from recovery import services
from recovery.models import RecoveryAction
from tests.browser.conftest import screenshot
from tests.endpoints import Endpoint
from tests.factories import HealthEventFactory
from tests.processes import celery_worker
from tests.recovery.test_engine import _setup, _signal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_approve_on_the_page_and_watch_it_run_and_get_its_verdict_live(
    page_for: Any, asgi_server: str, owner: Any, endpoint: str
) -> None:
    component = _setup(owner, endpoint, mode="approval", verify_after_s=1)
    action = services.heal_signal(signal_id=_signal(component).pk).action
    assert action.status == "pending_approval"

    page = page_for("alice")
    page.goto("/recovery-manager")
    page.wait_for_selector("#live-status[data-state=open]", timeout=5000)
    row = page.locator(f"#recovery-actions tr[data-id='{action.pk}']")
    assert "pending approval" in row.inner_text().lower()
    page.select_option("select[name=status]", "succeeded")  # the filter hides it
    page.wait_for_url("**status=succeeded**")
    assert page.locator("#recovery-actions tr[data-id]").count() == 0
    page.goto("/recovery-manager")

    with celery_worker() as _worker:
        page.click(f"[data-approve='{action.pk}']")
        page.wait_for_selector(f"text=Action #{action.pk} approved")
        # The worker runs it; the page follows without a reload.
        page.wait_for_selector(f"#recovery-actions tr[data-id='{action.pk}']:has-text('Succeeded')", timeout=15000)
    assert len(Endpoint.received) == 1 and Endpoint.received[0]["valid"]

    # The service recovers; the healing cycle (beat's job, run here) judges the action and resolves the signal.
    action.refresh_from_db()
    start = action.finished_at
    for i in range(3):
        at = start + dt.timedelta(milliseconds=100 + 10 * i)
        HealthEventFactory(
            component=component, window_start=at, window_end=at + dt.timedelta(seconds=10), error_rate=0.01
        )
    time.sleep(max(0.0, (action.verify_at - timezone.now()).total_seconds()) + 0.1)
    services.healing_cycle()
    page.wait_for_selector(f"#recovery-actions tr[data-id='{action.pk}']:has-text('Resolved')", timeout=5000)
    assert RecoveryAction.objects.get(pk=action.pk).verdict == "resolved"
    screenshot(page, "recovery-manager")

    page.goto(f"/recovery-manager/actions/{action.pk}/")
    page.wait_for_selector("text=before and after the action")
    assert "POST a signed restart_function request" in page.locator("#plan").inner_text()
    screenshot(page, "recovery-action")
    assert page.console_errors == []
