"""Alerts from other monitors: Alertmanager's webhook and the generic JSON alert."""

from __future__ import annotations

from typing import Any

import pytest

from anomalies.models import AnomalySignal
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db


def alertmanager(status: str, fingerprint: str = "a1b2c3", job: str = "checkout") -> dict[str, Any]:
    return {
        "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "status": status, "receiver": "core314",
        "groupLabels": {"alertname": "HighErrorRate"}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
        "alerts": [{
            "status": status,
            "labels": {"alertname": "HighErrorRate", "job": job, "severity": "critical"},
            "annotations": {"summary": "5xx above 5 % for 5 minutes", "description": "see runbook"},
            "startsAt": "2026-11-28T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": fingerprint,
        }],
    }  # fmt: skip


def test_alertmanager_firing_then_resolved(api_for: Any, service_account: Any) -> None:
    component = ComponentFactory(owner=service_account.account.owner, name="checkout")
    client = api_for(service_account)
    first = client.post("/api/v1/alerts/alertmanager/", alertmanager("firing"), format="json")
    assert first.status_code == 200 and first.json()["results"][0]["result"] == "opened"
    again = client.post("/api/v1/alerts/alertmanager/", alertmanager("firing"), format="json")
    assert again.json()["results"][0]["result"] == "updated"
    signal = AnomalySignal.objects.get()
    assert (signal.kind, signal.component, signal.severity, signal.occurrences) == (
        "external_alert",
        component,
        "critical",
        2,
    )
    assert signal.fingerprint == "a1b2c3" and "5xx above" in signal.explanation
    done = client.post("/api/v1/alerts/alertmanager/", alertmanager("resolved"), format="json")
    assert done.json()["results"][0]["result"] == "resolved"
    signal.refresh_from_db()
    assert signal.status == "resolved"


def test_alerts_for_unknown_or_foreign_components_are_reported_not_stored(
    api_for: Any, owner: Any, other_user: Any
) -> None:
    ComponentFactory(owner=other_user, name="checkout")
    response = api_for(owner).post("/api/v1/alerts/alertmanager/", alertmanager("firing"), format="json")
    assert response.json()["results"][0]["result"] == "unmatched"
    assert not AnomalySignal.objects.exists()
    bad = api_for(owner).post("/api/v1/alerts/alertmanager/", {"nope": 1}, format="json")
    assert bad.status_code == 400


def test_the_generic_alert(api_for: Any, owner: Any) -> None:
    ComponentFactory(owner=owner, name="billing")
    client = api_for(owner)
    alert = {"component_name": "billing", "name": "QueueBacklog", "severity": "warning", "summary": "lag 10 min"}
    assert client.post("/api/v1/alerts/", alert, format="json").json()["results"][0]["result"] == "opened"
    signal = AnomalySignal.objects.get()
    assert signal.severity == "medium" and signal.metric == "alert:QueueBacklog"
    resolved = client.post("/api/v1/alerts/", alert | {"status": "resolved"}, format="json")
    assert resolved.json()["results"][0]["result"] == "resolved"
    missing = client.post("/api/v1/alerts/", {"name": "X"}, format="json")
    assert missing.status_code == 400
    unknown = client.post("/api/v1/alerts/", {"component_name": "nope", "name": "X"}, format="json")
    assert unknown.status_code == 400 and AnomalySignal.objects.count() == 1
