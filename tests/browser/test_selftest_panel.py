from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from selftest.registry import checks_in
from tests.browser.conftest import screenshot
from tests.processes import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_run_now_and_watch_results_arrive_live(page_for: Any, asgi_server: str, admin: Any) -> None:
    page = page_for("root", "pw-for-tests")
    page.goto("/selftest-panel")
    page.wait_for_selector("#live-status[data-state=open]", timeout=5000)
    assert "No self-test run yet" in page.locator("#selftest-results").inner_text()

    with celery_worker(concurrency=2):
        page.click("#run-now")
        page.wait_for_selector("text=started: results appear as each check finishes")
        # Results arrive one by one over the socket; the page never reloads.
        page.wait_for_selector("#selftest-results tr[data-check='database']", timeout=15000)
        total = len(checks_in())
        # A locator assertion, not a JavaScript string: the page's policy forbids evaluating strings.
        expect(page.locator("#selftest-results tr[data-check]")).to_have_count(total, timeout=60000)
    page.wait_for_selector("#run-line .badge", timeout=10000)
    assert page.locator("#selftest-results tr[data-check='fire_drill']").inner_text().lower().count("pass") >= 1

    page.select_option("select[name=category]", "security")
    page.wait_for_url("**category=security**")
    assert page.locator("#selftest-results tr[data-check]").count() == 1
    page.goto("/selftest-panel")
    screenshot(page, "selftest-panel")
    page.click("#selftest-results tr[data-check='database'] a")
    page.wait_for_selector("#check-history tr[data-id]")
    assert page.console_errors == []
