from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from anomalies.models import AnomalySignal, Silence
from tests.factories import AnomalySignalFactory, ComponentFactory

pytestmark = pytest.mark.django_db


def test_acknowledge_and_resolve_over_the_api(api_for: Any, owner: Any, other_user: Any) -> None:
    signal = AnomalySignalFactory(component=ComponentFactory(owner=owner), status="open")
    client = api_for(owner)
    assert api_for(other_user).post(f"/api/v1/anomalies/{signal.pk}/acknowledge/", {}).status_code == 404
    response = client.post(f"/api/v1/anomalies/{signal.pk}/acknowledge/", {"note": "on it"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "acknowledged"
    assert client.post(f"/api/v1/anomalies/{signal.pk}/acknowledge/", {}, format="json").status_code == 409
    assert client.post(f"/api/v1/anomalies/{signal.pk}/resolve/", {}, format="json").status_code == 400
    response = client.post(f"/api/v1/anomalies/{signal.pk}/resolve/", {"note": "fixed"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "resolved"


def test_statistics_count_only_my_signals(api_for: Any, owner: Any, other_user: Any) -> None:
    AnomalySignalFactory(component=ComponentFactory(owner=owner), severity="critical")
    AnomalySignalFactory(component=ComponentFactory(owner=owner), severity="low", status="resolved",
                         resolved_at=timezone.now())  # fmt: skip
    AnomalySignalFactory(component=ComponentFactory(owner=other_user))
    body = api_for(owner).get("/api/v1/anomalies/statistics/").json()
    assert body["total"] == 2 and body["open"] == 1
    assert body["by_severity"] == {"critical": 1, "low": 1}
    assert body["mean_time_to_resolve_s"] is not None


def test_silences_are_validated_and_scoped(api_for: Any, owner: Any, other_user: Any) -> None:
    mine = ComponentFactory(owner=owner)
    theirs = ComponentFactory(owner=other_user)
    client = api_for(owner)
    ends = (timezone.now() + dt.timedelta(hours=2)).isoformat()
    ok = client.post("/api/v1/silences/", {"component": mine.pk, "ends_at": ends, "reason": "upgrade"}, format="json")
    assert ok.status_code == 201
    foreign = client.post("/api/v1/silences/", {"component": theirs.pk, "ends_at": ends, "reason": "x"}, format="json")
    assert foreign.status_code == 400 and "component" in foreign.json()
    nothing = client.post("/api/v1/silences/", {"ends_at": ends, "reason": "x"}, format="json")
    assert nothing.status_code == 400 and "component, a kind" in nothing.json()["detail"]
    past = client.post(
        "/api/v1/silences/",
        {"component": mine.pk, "ends_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(), "reason": "x"},
        format="json",
    )
    assert past.status_code == 400
    assert Silence.objects.count() == 1
    silence = Silence.objects.get()
    assert client.post(f"/api/v1/silences/{silence.pk}/end/").status_code == 200
    silence.refresh_from_db()
    assert silence.ends_at <= timezone.now()


def test_detection_settings_are_validated(api_for: Any, owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    client = api_for(owner)
    bad = client.post("/api/v1/detection-settings/", {"component": component.pk, "threshold": 0.2}, format="json")
    assert bad.status_code == 400
    good = client.post(
        "/api/v1/detection-settings/", {"component": component.pk, "threshold": 7, "window": 120}, format="json"
    )
    assert good.status_code == 201 and good.json()["threshold"] == 7
    assert AnomalySignal.objects.count() == 0
