from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from health.models import Component
from tests.factories import ComponentFactory, HealthEventFactory

pytestmark = pytest.mark.django_db


def test_the_monitor_shows_only_my_components(client_for: Any, owner: Any, other_user: Any) -> None:
    ComponentFactory(owner=owner, name="my-api", status="degraded")
    ComponentFactory(owner=other_user, name="their-api")
    html = client_for(owner).get("/system-monitor").content.decode()
    assert 'data-component="my-api"' in html
    assert "their-api" not in html


def test_filters_narrow_the_events_table(client_for: Any, owner: Any) -> None:
    api = ComponentFactory(owner=owner, name="api", type="api")
    db = ComponentFactory(owner=owner, name="db", type="database")
    HealthEventFactory(component=api, status="critical")
    HealthEventFactory(component=db, status="healthy")
    client = client_for(owner)
    rows = client.get("/system-monitor?status=critical").context["page"].rows
    assert [e.component.name for e in rows] == ["api"]
    rows = client.get("/system-monitor?type=database").context["page"].rows
    assert [e.component.name for e in rows] == ["db"]
    rows = client.get(f"/system-monitor?component={db.pk}").context["page"].rows
    assert [e.component.name for e in rows] == ["db"]
    assert client.get("/system-monitor?status=bogus&range=1y").status_code == 200


def test_the_csv_export_follows_the_filters(client_for: Any, owner: Any, other_user: Any) -> None:
    api = ComponentFactory(owner=owner, name="api")
    HealthEventFactory(component=api, status="critical", latency_p95_ms=950)
    HealthEventFactory(component=api, status="healthy")
    HealthEventFactory(component=ComponentFactory(owner=other_user, name="theirs"), status="critical")
    response = client_for(owner).get("/system-monitor/export.csv?status=critical")
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    assert rows[0]["component"] == "api" and rows[0]["status"] == "critical" and rows[0]["latency_p95_ms"] == "950.0"


def test_the_component_page_and_its_settings_form(client_for: Any, owner: Any, other_user: Any) -> None:
    component = ComponentFactory(owner=owner, name="api")
    client = client_for(owner)
    assert client.get(f"/system-monitor/components/{component.pk}").status_code == 200
    assert client_for(other_user).get(f"/system-monitor/components/{component.pk}").status_code == 404
    form = {"thresholds": '{"latency_p95_ms": [100, 200, 300]}', "flap_bad_n": 3, "flap_window_m": 5,
            "flap_recover_k": 2, "stale_after_s": 90}  # fmt: skip
    response = client.post(f"/system-monitor/components/{component.pk}", form, follow=True)
    assert "Settings saved" in response.content.decode()
    component.refresh_from_db()
    assert component.thresholds == {"latency_p95_ms": [100, 200, 300]} and component.flap_window_m == 5
    response = client.post(f"/system-monitor/components/{component.pk}", form | {"thresholds": "{oops"}, follow=True)
    assert "not valid JSON" in response.content.decode()
    response = client_for(other_user).post(f"/system-monitor/components/{component.pk}", form)
    assert response.status_code == 404
    assert Component.objects.get(pk=component.pk).flap_window_m == 5


def test_the_monitor_page_runs_a_fixed_number_of_queries(
    client_for: Any, owner: Any, django_assert_max_num_queries: Any
) -> None:
    for i in range(5):
        component = ComponentFactory(owner=owner, name=f"c{i}")
        for _ in range(5):
            HealthEventFactory(component=component)
    client = client_for(owner)
    client.get("/system-monitor")  # warm the session
    with django_assert_max_num_queries(12):
        client.get("/system-monitor")


def test_the_csv_export_neutralises_formulas(client_for: Any, owner: Any) -> None:
    api = ComponentFactory(owner=owner, name="api")
    HealthEventFactory(component=api, version='=HYPERLINK("http://evil.example","x")', region="@SUM(1+1)")
    HealthEventFactory(component=api, version="+1", region="-2", latency_p95_ms=120.0)
    response = client_for(owner).get("/system-monitor/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    cells = {(row["version"], row["region"]) for row in rows}
    assert cells == {('\'=HYPERLINK("http://evil.example","x")', "'@SUM(1+1)"), ("'+1", "'-2")}
    assert "120.0" in {row["latency_p95_ms"] for row in rows}  # numbers stay numbers
