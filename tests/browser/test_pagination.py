"""Every list page pages by keyset: 25 rows, then "Older »" shows the rest, with no console error."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _rows_for(owner: Any) -> dict[str, tuple[str, str]]:
    component = factories.ComponentFactory(owner=owner, name="paged")
    now = timezone.now()
    run = factories.SelfTestRunFactory(owner=owner)
    for i in range(30):
        start = now - dt.timedelta(seconds=10 * (i + 1))
        factories.HealthEventFactory(
            component=component, window_start=start, window_end=start + dt.timedelta(seconds=10)
        )
        factories.AnomalySignalFactory(component=component, metric=f"latency_p95_ms:{i}")
        factories.RecoveryActionFactory(component=component, reason=f"paged {i}")
        factories.SelfTestResultFactory(run=run, check_name="database", created_at=now - dt.timedelta(minutes=i))
    return {
        "system monitor": ("/system-monitor?range=1h", "table.table tbody tr[data-id]"),
        "anomaly console": ("/anomaly-console", "#anomaly-signals tbody tr[data-id]"),
        "recovery manager": ("/recovery-manager", "#recovery-actions tbody tr[data-id]"),
        "self-test check history": ("/selftest-panel/checks/database/", "#check-history tbody tr[data-id]"),
    }


def test_each_list_page_paginates(page_for: Any, owner: Any) -> None:
    pages = _rows_for(owner)
    page = page_for("alice")
    for name, (path, rows) in pages.items():
        page.goto(path)
        page.wait_for_selector(rows)
        assert page.locator(rows).count() == 25, name
        first_page = set(page.locator(rows).evaluate_all("els => els.map(e => e.dataset.id)"))
        page.click("a:has-text('Older »')")
        page.wait_for_url("**after=**")
        rest = set(page.locator(rows).evaluate_all("els => els.map(e => e.dataset.id)"))
        assert len(rest) >= 5 and not rest & first_page, name
    assert page.console_errors == []
