"""The main job, shown: faults injected into the demo service from the System Monitor page, healed on the live
stack, watched live on the four pages (screenshots mid-incident in test-artifacts/): a hang healed without a
human, and a bad release rolled back after an approval given on the Recovery Manager page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.e2e.conftest import LiveStack

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"


def _wait_sql(stack: LiveStack, query: str, timeout: float, what: str) -> list[tuple[Any, ...]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = stack.sql(query)
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_faults_are_healed_live_on_the_four_pages(live_stack: LiveStack) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # The detector learns the demo's normal behaviour first (24 windows of 2 s).
    _wait_sql(
        live_stack,
        "SELECT 1 FROM system_health_events e JOIN health_component c ON c.id = e.component_id "
        "WHERE c.name = 'demo-shop' GROUP BY c.id HAVING count(*) >= 30",
        120,
        "the demo's history",
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900}, base_url=live_stack.url)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto("/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", live_stack.admin_password)
        page.click("button[type=submit]")
        page.wait_for_url("**/system-monitor")

        # 1. A hang, healed without a human.
        page.select_option("#fault-injection select[name=kind]", "hang")
        page.click("#inject")
        page.wait_for_selector("text=Injected hang into demo-shop")
        _shot(page, "incident-1-system-monitor")
        page.goto("/anomaly-console")
        page.wait_for_selector("#anomaly-signals tr[data-id]:has-text('demo-shop')", timeout=20_000)
        _shot(page, "incident-2-anomaly-console")
        page.goto("/recovery-manager")
        page.wait_for_selector(
            "#recovery-actions tr[data-id]:has-text('demo-shop'):has-text('Restart')", timeout=20_000
        )
        page.wait_for_selector(
            "#recovery-actions tr[data-id]:has-text('demo-shop'):has-text('Succeeded')", timeout=20_000
        )
        _shot(page, "incident-3-recovery-manager")
        restarted = _wait_sql(
            live_stack,
            "SELECT a.id FROM recovery_actions a JOIN health_component c ON c.id = a.component_id "
            "WHERE c.name = 'demo-shop' AND a.action_type = 'restart_function' AND a.status = 'succeeded'",
            20,
            "the restart",
        )
        assert restarted

        # 2. A bad release: rolled back once a person approves it on the page.
        page.goto("/system-monitor")
        page.select_option("#fault-injection select[name=kind]", "bad_release")
        page.click("#inject")
        page.wait_for_selector("text=Injected bad_release into demo-shop")
        page.goto("/recovery-manager?status=pending_approval")
        row = page.wait_for_selector("#recovery-actions tr[data-id]:has-text('Roll back')", timeout=60_000)
        action_id = row.get_attribute("data-id")
        _shot(page, "incident-4-approval")
        page.click(f"[data-approve='{action_id}']")
        page.wait_for_selector(f"text=Action #{action_id} approved")
        page.goto(f"/recovery-manager/actions/{action_id}/")
        page.wait_for_selector("#action-status:has-text('Succeeded')", timeout=30_000)
        _shot(page, "incident-5-rollback")
        version = _wait_sql(
            live_stack,
            "SELECT a.state->>'version' FROM recovery_actuator a JOIN health_component c "
            "ON c.id = a.component_id WHERE c.name = 'demo-shop'",
            5,
            "the actuator",
        )[0][0]
        assert version == "v1"

        page.goto("/selftest-panel")
        page.click("#run-now")
        page.wait_for_selector("#selftest-results tr[data-check]", timeout=30_000)
        _shot(page, "incident-6-selftest-panel")
        browser.close()
    assert errors == []
