from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from health.models import ExecutionRecord, SystemHealthEvent
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db


def _event(component: Any, **extra: Any) -> dict[str, Any]:
    return {
        "component": component.pk,
        "window_start": (timezone.now() - timedelta(seconds=10)).isoformat(),
    } | extra


def _post(client: Any, url: str, body: Any, **headers: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def test_one_event_is_created_with_a_derived_status(api_for: Any, service_account: Any) -> None:
    component = ComponentFactory(owner=service_account.account.owner, type="api")
    response = _post(api_for(service_account), "/api/v1/health-events/", _event(component, latency_p95_ms=2000))
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "unhealthy"
    assert response.json()["component"] == component.pk
    component.refresh_from_db()
    assert component.last_report_at is not None


def test_a_batch_is_stored_whole(api_for: Any, owner: Any) -> None:
    component = ComponentFactory(owner=owner, name="checkout")
    events = [_event(component, error_rate=0.0) for _ in range(20)] + [
        {"component_name": "checkout", "window_start": timezone.now().timestamp() - 30}
    ]
    response = _post(api_for(owner), "/api/v1/health-events/batch/", {"events": events})
    assert response.status_code == 201
    assert response.json() == {"stored": 21, "components": [component.pk], "duplicates": 0, "late": 0}
    assert SystemHealthEvent.objects.filter(component=component).count() == 21


def test_a_batch_with_one_bad_item_stores_nothing_and_names_it(api_for: Any, owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    events = [_event(component) for _ in range(5)]
    events[3]["error_rate"] = 7
    response = _post(api_for(owner), "/api/v1/health-events/batch/", {"events": events})
    assert response.status_code == 400
    body = response.json()
    assert "nothing was stored" in body["detail"]
    assert body["errors"] == [{"index": 3, "field": "error_rate", "message": "must be ≤ 1"}]
    assert not SystemHealthEvent.objects.exists()


def test_a_retried_batch_with_the_same_key_is_stored_once(api_for: Any, owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    body = {"events": [_event(component) for _ in range(3)]}
    client = api_for(owner)
    first = _post(client, "/api/v1/health-events/batch/", body, HTTP_IDEMPOTENCY_KEY="batch-42")
    again = _post(client, "/api/v1/health-events/batch/", body, HTTP_IDEMPOTENCY_KEY="batch-42")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert SystemHealthEvent.objects.count() == 3
    other = _post(
        client,
        "/api/v1/health-events/batch/",
        {"events": body["events"][:1]},
        HTTP_IDEMPOTENCY_KEY="batch-42",
    )
    assert other.status_code == 409
    assert SystemHealthEvent.objects.count() == 3


def test_a_failed_batch_does_not_burn_its_idempotency_key(api_for: Any, owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    client = api_for(owner)
    bad = _post(client, "/api/v1/health-events/batch/", {"events": [_event(component, status="meh")]},
                HTTP_IDEMPOTENCY_KEY="k1")  # fmt: skip
    assert bad.status_code == 400
    good = _post(client, "/api/v1/health-events/batch/", {"events": [_event(component)]}, HTTP_IDEMPOTENCY_KEY="k1")
    assert good.status_code == 201


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"events": [{"component": %d, "window_start": "%s", "error_rate": NaN}]}', "error_rate"),
        (
            '{"events": [{"component": %d, "window_start": "%s", "latency_p95_ms": Infinity}]}',
            "latency_p95_ms",
        ),
        ('{"events": [{"component": %d, "window_start": "%s", "request_count": -3}]}', "request_count"),
        ('{"events": [{"component": %d, "window_start": "%s", "availability": 1.2}]}', "availability"),
        ('{"events": [{"component": %d, "window_start": "%s", "status": "fine"}]}', "status"),
        ('{"events": [{"component": %d, "window_start": "2099-01-01T00:00:00Z%s"}]}', "window_start"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_for: Any, owner: Any, raw: str, field: str) -> None:
    component = ComponentFactory(owner=owner)
    stamp = (timezone.now() - timedelta(seconds=5)).isoformat()
    body = raw % (component.pk, "" if "2099" in raw else stamp)
    response = api_for(owner).post("/api/v1/health-events/batch/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field
    assert not SystemHealthEvent.objects.exists()


def test_malformed_json_and_oversize_batches_are_refused(api_for: Any, owner: Any, settings: Any) -> None:
    component = ComponentFactory(owner=owner)
    client = api_for(owner)
    response = client.post("/api/v1/health-events/batch/", '{"events": [', content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    settings.CORE314_INGEST_BATCH_LIMIT = 10
    response = _post(client, "/api/v1/health-events/batch/", {"events": [_event(component)] * 11})
    assert response.status_code == 400 and "limit is 10" in response.json()["detail"]
    response = _post(client, "/api/v1/health-events/batch/", {"events": "many"})
    assert response.status_code == 400
    assert not SystemHealthEvent.objects.exists()


def test_another_users_component_cannot_be_written(api_for: Any, other_user: Any, owner: Any) -> None:
    theirs = ComponentFactory(owner=owner, name="theirs")
    client = api_for(other_user)
    response = _post(client, "/api/v1/health-events/batch/", {"events": [_event(theirs)]})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "component"
    response = _post(
        client,
        "/api/v1/health-events/",
        {"component_name": "theirs", "window_start": timezone.now().isoformat()},
    )
    assert response.status_code == 400
    assert not SystemHealthEvent.objects.exists()


def test_execution_records_are_posted_in_bulk_and_sanitised(api_for: Any, service_account: Any) -> None:
    component = ComponentFactory(owner=service_account.account.owner)
    records = [
        {"component": component.pk, "started_at": timezone.now().isoformat(), "duration_ms": 12, "ok": True},
        {"component": component.pk, "started_at": timezone.now().isoformat(), "duration_ms": 900, "ok": False,
         "error_kind": "timeout", "message": "call to 10.1.2.3 failed, token=abc123456"},
    ]  # fmt: skip
    response = _post(api_for(service_account), "/api/v1/execution-records/bulk/", {"records": records})
    assert response.status_code == 201
    stored = ExecutionRecord.objects.get(ok=False)
    assert "10.1.2.3" not in stored.message and "abc123456" not in stored.message
    assert stored.owner == component.owner


def test_the_health_summary_reports_components_and_totals(api_for: Any, owner: Any) -> None:
    component = ComponentFactory(owner=owner, name="api-1")
    _post(
        api_for(owner),
        "/api/v1/health-events/",
        _event(component, latency_p95_ms=100, error_rate=0.01, availability=1),
    )
    body = api_for(owner).get("/api/v1/health-events/summary/").json()
    assert body["components"][0]["name"] == "api-1"
    assert body["components"][0]["status"] == "healthy"
    assert body["avg_latency_p95_ms"] == 100
    assert body["components_by_status"]["healthy"] == 1
    assert api_for(owner).get("/api/v1/health-events/summary/?range=2y").status_code == 400


def test_component_settings_over_the_api(api_for: Any, owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    client = api_for(owner)
    response = _post(
        client,
        f"/api/v1/components/{component.pk}/settings/",
        {"thresholds": {"error_rate": [0.5, 0.2, 0.9]}},
    )
    assert response.status_code == 400 and "ascending" in response.json()["detail"]
    response = _post(client, f"/api/v1/components/{component.pk}/settings/", {"stale_after_s": 120})
    assert response.status_code == 200 and response.json()["stale_after_s"] == 120


def test_components_are_created_with_their_dependencies(api_for: Any, owner: Any, other_user: Any) -> None:
    db = ComponentFactory(owner=owner, name="db", type="database")
    foreign = ComponentFactory(owner=other_user)
    client = api_for(owner)
    response = _post(client, "/api/v1/components/", {"name": "web", "depends_on": [db.pk]})
    assert response.status_code == 201 and response.json()["depends_on"] == [db.pk]
    response = _post(client, "/api/v1/components/", {"name": "web2", "depends_on": [foreign.pk]})
    assert response.status_code == 400


def test_related_fields_accept_only_my_rows(api_for: Any, owner: Any, other_user: Any) -> None:
    """Enforced by the API base class for every owned relation, not view by view."""
    foreign = ComponentFactory(owner=other_user)
    response = _post(api_for(owner), "/api/v1/probes/", {"component": foreign.pk, "kind": "tcp", "target": "x:1"})
    assert response.status_code == 400 and "component" in response.json()
    response = _post(
        api_for(owner), "/api/v1/actuators/", {"component": foreign.pk, "kind": "cache", "config": {"url": "redis://x"}}
    )
    assert response.status_code == 400 and "component" in response.json()


def test_a_probe_can_be_created_disabled(api_for: Any, owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    body = {"component": component.pk, "kind": "tcp", "target": "127.0.0.1:9", "enabled": False}
    response = _post(api_for(owner), "/api/v1/probes/", body)
    assert response.status_code == 201 and response.json()["enabled"] is False


@pytest.mark.django_db(transaction=True)
def test_a_broker_hiccup_after_a_committed_batch_is_not_a_500(
    api_for: Any, service_account: Any, monkeypatch: Any
) -> None:
    """Detection is told after commit. If enqueueing fails then, the batch is stored, the client hears 201
    (not a 500 that would make it retry a stored batch), and the other listeners still hear of it."""
    from anomalies.tasks import detect
    from health.signals import health_events_committed

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker went away")

    heard: list[list[int]] = []

    def listener(sender: Any, component_ids: list[int], **kwargs: Any) -> None:
        heard.append(component_ids)

    monkeypatch.setattr(detect, "delay", broker_down)
    health_events_committed.connect(listener, dispatch_uid="tests.health.listener")
    component = ComponentFactory(owner=service_account.account.owner)
    try:
        events = [_event(component), _event(component, window_start=timezone.now().timestamp() - 60)]
        response = _post(api_for(service_account), "/api/v1/health-events/batch/", {"events": events})
    finally:
        health_events_committed.disconnect(dispatch_uid="tests.health.listener")
    assert response.status_code == 201, response.content
    assert response.json() == {"stored": 2, "components": [component.pk], "duplicates": 0, "late": 0}
    assert SystemHealthEvent.objects.filter(component=component).count() == 2
    assert heard == [[component.pk]]


def test_a_resent_or_late_window_is_merged_and_counted_not_refused(owner: Any, api_for: Any) -> None:
    """Real collectors repeat a window (a retry) or deliver one late: merged and counted, never a 400."""
    from health.models import SystemHealthEvent
    from tests.factories import ComponentFactory

    component = ComponentFactory(owner=owner, name="collector")
    api = api_for(owner)
    base = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    at = [(base + timedelta(seconds=10 * i)).isoformat() for i in range(4)]
    first = api.post(
        "/api/v1/health-events/batch/",
        {"events": [{"component": component.pk, "window_start": at[2], "latency_p95_ms": 10}]},
        format="json",
    )
    assert first.status_code == 201 and first.json()["duplicates"] == 0 and first.json()["late"] == 0
    events = [
        {"component": component.pk, "window_start": at[3], "latency_p95_ms": 11},
        {"component": component.pk, "window_start": at[3], "latency_p95_ms": 12},  # the same window again
        {"component": component.pk, "window_start": at[2], "latency_p95_ms": 13},  # resent from the first batch
        {"component": component.pk, "window_start": at[0], "latency_p95_ms": 14},  # late, new
    ]
    second = api.post("/api/v1/health-events/batch/", {"events": events}, format="json")
    assert second.status_code == 201, second.json()
    assert second.json() | {"components": None} == {"stored": 3, "components": None, "duplicates": 2, "late": 1}
    stored = dict(SystemHealthEvent.objects.filter(component=component).values_list("window_start", "latency_p95_ms"))
    assert len(stored) == 3 and sorted(stored.values()) == [12.0, 13.0, 14.0]  # the newest copy of each window
