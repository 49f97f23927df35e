from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from anomalies.models import AnomalySignal, Silence
from tests.factories import AnomalySignalFactory, ComponentFactory

pytestmark = pytest.mark.django_db


def test_the_console_lists_my_signals_with_filters(client_for: Any, owner: Any, other_user: Any) -> None:
    mine = AnomalySignalFactory(component=ComponentFactory(owner=owner, name="api"), severity="critical")
    AnomalySignalFactory(component=ComponentFactory(owner=owner, name="db"), severity="low", kind="error_rate_increase")
    AnomalySignalFactory(component=ComponentFactory(owner=other_user, name="theirs"))
    client = client_for(owner)
    rows = client.get("/anomaly-console").context["page"].rows
    assert {s.component.name for s in rows} == {"api", "db"}
    rows = client.get("/anomaly-console?severity=critical").context["page"].rows
    assert [s.pk for s in rows] == [mine.pk]
    rows = client.get("/anomaly-console?kind=error_rate_increase").context["page"].rows
    assert [s.component.name for s in rows] == ["db"]


def test_acknowledge_and_resolve_from_the_page(client_for: Any, owner: Any, other_user: Any) -> None:
    signal = AnomalySignalFactory(component=ComponentFactory(owner=owner))
    client = client_for(owner)
    assert client_for(other_user).post(f"/anomaly-console/signals/{signal.pk}/acknowledge").status_code == 404
    client.post(f"/anomaly-console/signals/{signal.pk}/acknowledge", {"next": "/anomaly-console"})
    signal.refresh_from_db()
    assert signal.status == "acknowledged"
    response = client.post(f"/anomaly-console/signals/{signal.pk}/resolve", {"note": ""}, follow=True)
    assert "note is required" in response.content.decode()
    client.post(f"/anomaly-console/signals/{signal.pk}/resolve", {"note": "pool restarted"})
    signal.refresh_from_db()
    assert signal.status == "resolved" and signal.resolution_note == "pool restarted"


def test_an_offsite_next_is_not_followed(client_for: Any, owner: Any) -> None:
    signal = AnomalySignalFactory(component=ComponentFactory(owner=owner))
    response = client_for(owner).post(
        f"/anomaly-console/signals/{signal.pk}/acknowledge", {"next": "https://evil.example/"}
    )
    assert response["Location"] == f"/anomaly-console/signals/{signal.pk}"


def test_the_signal_page_shows_evidence_and_timeline(client_for: Any, owner: Any) -> None:
    signal = AnomalySignalFactory(component=ComponentFactory(owner=owner), explanation="p95 latency far above")
    html = client_for(owner).get(f"/anomaly-console/signals/{signal.pk}").content.decode()
    assert "p95 latency far above" in html and "Recommended actions" in html


def test_silences_from_the_page(client_for: Any, owner: Any, other_user: Any) -> None:
    component = ComponentFactory(owner=owner)
    foreign = ComponentFactory(owner=other_user)
    client = client_for(owner)
    ends = (timezone.now() + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    client.post("/anomaly-console/silences", {"component": component.pk, "ends_at": ends, "reason": "upgrade"})
    assert Silence.objects.filter(component=component).count() == 1
    response = client.post("/anomaly-console/silences", {"component": foreign.pk, "ends_at": ends, "reason": "x"})
    assert response.status_code == 404 and not Silence.objects.filter(component=foreign).exists()
    response = client.post("/anomaly-console/silences", {"ends_at": ends, "reason": "x"}, follow=True)
    assert "names what it covers" in response.content.decode()
    silence = Silence.objects.get()
    assert "upgrade" in client.get("/anomaly-console").content.decode()
    client.post(f"/anomaly-console/silences/{silence.pk}/end")
    silence.refresh_from_db()
    assert silence.ends_at <= timezone.now()
    assert AnomalySignal.objects.count() == 0


def test_detection_settings_from_the_page(client_for: Any, owner: Any, other_user: Any) -> None:
    from anomalies.models import DetectionSettings

    component = ComponentFactory(owner=owner)
    url = f"/anomaly-console/components/{component.pk}/detection"
    client = client_for(owner)
    assert client.get(url).status_code == 200
    assert client_for(other_user).get(url).status_code == 404
    assert client_for(other_user).post(url, {"threshold": "9"}).status_code == 404
    client.post(url, {"enabled": "on", "threshold": "7.5", "window": "120"})
    row = DetectionSettings.objects.get(component=component)
    assert (row.threshold, row.window, row.enabled, row.min_duration) == (7.5, 120, True, None)
    response = client.post(url, {"threshold": "lots"}, follow=True)
    assert "is not a number" in response.content.decode()
    response = client.post(url, {"enabled": "on", "threshold": "0.1"}, follow=True)
    assert "threshold must be between 1 and 50" in response.content.decode()
    assert DetectionSettings.objects.get(component=component).threshold == 7.5
