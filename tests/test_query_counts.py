"""Query counts pinned for the four dashboards, the audit log and every list endpoint of the API.

Each page and list is read with one set of rows, then again after more rows of every kind were added: the
count must not move (no query per row) and must equal its pin. A change that adds a query changes a pin here,
on purpose and in review (netbox's baselines, Zulip's ``assert_database_query_count``).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core314.urls import router
from tests.test_tenancy_matrix import _rows_for

pytestmark = pytest.mark.django_db

PAGES = {
    "system-monitor": 11,
    "anomaly-console": 12,
    "recovery-manager": 18,
    "selftest-panel": 9,
    "audit-log": 5,
}

LISTS = {
    "component-list": 5,
    "health-event-list": 4,
    "execution-record-list": 4,
    "probe-list": 4,
    "anomaly-list": 4,
    "incident-list": 5,
    "silence-list": 4,
    "detection-settings-list": 4,
    "recovery-action-list": 4,
    "circuit-breaker-list": 4,
    "escalation-target-list": 4,
    "actuator-list": 4,
    "recovery-policy-list": 4,
    "healing-decision-list": 4,
    "backoff-list": 4,
    "healing-list": 4,
    "deployment-list": 4,
    "demotion-list": 4,
    "scale-out-list": 4,
    "selftest-run-list": 4,
    "selftest-result-list": 4,
    "audit-log-entry-list": 4,
    "service-account-list": 4,
    "token-list": 4,
}


def _count(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(queries.captured_queries)


def test_every_list_endpoint_is_pinned() -> None:
    names = {f"{basename}-list" for _, viewset, basename in router.registry if hasattr(viewset, "list")}
    assert names == set(LISTS), "pin the query count of a new list endpoint here"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_dashboard_queries_do_not_grow_with_rows(name: str, owner: Any, client_for: Any) -> None:
    client = client_for(owner)
    _rows_for(owner, "first")
    url = reverse(name)
    client.get(url)  # warm per-process caches (content types, sessions) so they do not count
    before = _count(client, url)
    for tag in ("second", "third", "fourth"):
        _rows_for(owner, tag)
    after = _count(client, url)
    assert after == before, f"{name}: {before} queries with one set of rows, {after} with four"
    assert after == PAGES[name], f"{name}: {after} queries (pinned {PAGES[name]})"


@pytest.mark.parametrize("name", sorted(LISTS))
def test_list_endpoint_queries_do_not_grow_with_rows(name: str, owner: Any, api_for: Any) -> None:
    client = api_for(owner)
    _rows_for(owner, "first")
    url = reverse(name)
    client.get(url)
    before = _count(client, url)
    for tag in ("second", "third", "fourth"):
        _rows_for(owner, tag)
    after = _count(client, url)
    assert after == before, f"{name}: {before} queries with one set of rows, {after} with four"
    assert after == LISTS[name], f"{name}: {after} queries (pinned {LISTS[name]})"
