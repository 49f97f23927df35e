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


def test_a_policys_track_record_replay_and_promotion_and_the_managers_fleet_sections(
    page_for: Any, owner: Any, endpoint: str
) -> None:
    from recovery.models import Demotion, RecoveryPolicy, ScaleOut
    from tests.factories import RecoveryActionFactory

    component = _setup(owner, endpoint, mode="dry_run", cooldown_s=30)
    policy = RecoveryPolicy.objects.get(owner=owner)
    for n in range(4):  # yesterday: four error-rate faults, the first one really restarted and healed
        signal = _signal(component, status="resolved", first_seen_at=timezone.now() - dt.timedelta(hours=20 - n))
        if n == 0:
            RecoveryActionFactory(
                component=component, signal=signal, action_type="restart_function", mode="approval",
                status="succeeded", verdict="resolved", verified_at=timezone.now(),
            )  # fmt: skip
    Demotion.objects.create(
        owner=owner, component=component, action_type="restart_function",
        reason="failed 3 times in a row here (#7 no effect, #5 no effect, #3 worse)",
    )  # fmt: skip
    ScaleOut.objects.create(
        owner=owner, component=component, metric="cpu_percent", from_replicas=1, replicas=2, steps=1,
        cooldown_s=300, waiting="cooling down: 42 of 300 s since the last step",
    )  # fmt: skip

    page = page_for("alice")
    page.goto("/recovery-manager")
    assert "failed 3 times in a row here" in page.locator("#demotions").inner_text()
    assert "cooling down: 42 of 300 s" in page.locator("#scale-outs").inner_text()
    screenshot(page, "recovery-manager-fleet")
    page.click("text=Policies")
    page.click(f"#recovery-policies tr[data-id='{policy.pk}'] a")
    assert "restart_function" in page.locator("#track-record").inner_text()
    page.fill("input[name=days]", "2")
    page.click("#replay button[type=submit]")
    page.wait_for_selector("#replay-summary")
    rows = page.locator("#replay-rows tbody tr")
    assert rows.count() == 4
    assert "resolved" in rows.nth(0).inner_text()  # what really ran, and its verdict
    screenshot(page, "recovery-policy-replay")
    assert page.locator("#promote").is_disabled()  # 1 of 3 runs: not enough evidence, and alice is no admin
    assert page.console_errors == []
