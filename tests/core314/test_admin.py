"""The admin changes rows only through the services: the same checks as the API, an audit entry, a live push;
rows with no service are read-only there; secrets are never rendered back."""

from __future__ import annotations

from typing import Any

import pytest

from anomalies.models import AnomalySignal
from core314.models import AuditLogEntry
from health.models import Component, SystemHealthEvent
from recovery.models import Actuator, EscalationTarget
from tests.factories import AnomalySignalFactory, ComponentFactory, HealthEventFactory

pytestmark = pytest.mark.django_db

COMPONENT_FORM = {
    "name": "billing",
    "type": "api",
    "environment": "production",
    "description": "",
    "tags": '["payments"]',
    "thresholds": "{}",
    "flap_bad_n": 2,
    "flap_window_m": 3,
    "flap_recover_k": 2,
    "stale_after_s": 60,
}


def test_a_component_added_in_the_admin_goes_through_the_service(
    client_for: Any, admin: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for(admin)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/admin/health/component/add/", {**COMPONENT_FORM, "owner": admin.pk})
    assert response.status_code == 302, response.content.decode()[:2000]
    component = Component.objects.get(name="billing")
    assert component.tags == ["payments"]
    assert AuditLogEntry.objects.filter(action="component.create", object_id=str(component.pk)).exists()
    assert callbacks, "the page showing components is told after commit"


def test_the_admin_refuses_what_the_service_refuses_and_stores_nothing(client_for: Any, admin: Any) -> None:
    existing = ComponentFactory(owner=admin, name="billing")
    client = client_for(admin)
    response = client.post("/admin/health/component/add/", {**COMPONENT_FORM, "owner": admin.pk})
    assert response.status_code == 200  # the form again, with the service's message
    assert "already exists" in response.content.decode()
    assert Component.objects.filter(name="billing").count() == 1
    response = client.post(
        f"/admin/health/component/{existing.pk}/change/", {**COMPONENT_FORM, "flap_bad_n": 9, "flap_window_m": 3}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors  # the model's damping constraint, as the service says
    existing.refresh_from_db()
    assert existing.flap_bad_n == 2


def test_rows_without_a_service_are_read_only_in_the_admin(client_for: Any, admin: Any) -> None:
    event = HealthEventFactory(component=ComponentFactory(owner=admin))
    signal = AnomalySignalFactory(component=event.component)
    client = client_for(admin)
    for url, model in [
        (f"/admin/health/systemhealthevent/{event.pk}/change/", SystemHealthEvent),
        (f"/admin/anomalies/anomalysignal/{signal.pk}/change/", AnomalySignal),
    ]:
        page = client.get(url)
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert client.post(url, {"status": "resolved"}).status_code == 403
        assert model.objects.filter(pk=event.pk if model is SystemHealthEvent else signal.pk).exists()
    assert client.get("/admin/health/systemhealthevent/add/").status_code == 403


def test_escalation_secrets_are_write_only_in_the_admin(client_for: Any, admin: Any) -> None:
    component = ComponentFactory(owner=admin)
    target = EscalationTarget.objects.create(
        owner=admin,
        component=component,
        slack_webhook_url="https://hooks.slack.example/services/T000/B000/s3cretslackpath",
        pagerduty_url="https://events.pagerduty.example/v2/enqueue",
        pagerduty_routing_key="R0UT1NGKEYs3cret",
    )
    client = client_for(admin)
    html = client.get(f"/admin/recovery/escalationtarget/{target.pk}/change/").content.decode()
    html += client.get("/admin/recovery/escalationtarget/").content.decode()
    assert "s3cretslackpath" not in html and "R0UT1NGKEYs3cret" not in html
    form = {"component": component.pk, "emails": '["ops@example.com"]', "pagerduty_url": target.pagerduty_url}
    assert client.post(f"/admin/recovery/escalationtarget/{target.pk}/change/", form).status_code == 302
    target.refresh_from_db()
    assert target.emails == ["ops@example.com"]
    assert target.pagerduty_routing_key == "R0UT1NGKEYs3cret"  # left empty: kept
    assert target.slack_webhook_url.endswith("s3cretslackpath")
    form["clear_slack"] = "on"
    client.post(f"/admin/recovery/escalationtarget/{target.pk}/change/", form)
    target.refresh_from_db()
    assert target.slack_webhook_url == ""


def test_actuator_config_is_shown_redacted_and_kept_when_left_as_shown(client_for: Any, admin: Any) -> None:
    component = ComponentFactory(owner=admin)
    actuator = Actuator.objects.create(
        owner=admin,
        component=component,
        kind="webhook",
        config={"url": "https://hooks.example/heal", "secret": "a-very-long-signing-secret", "timeout_s": 5},
    )
    client = client_for(admin)
    page = client.get(f"/admin/recovery/actuator/{actuator.pk}/change/")
    html = page.content.decode()
    assert "a-very-long-signing-secret" not in html
    shown = page.context["adminform"].form.initial["config"]
    assert shown["secret"] == "••••••••"
    form = {
        "component": component.pk,
        "kind": "webhook",
        "enabled": "on",
        "config": '{"url": "https://hooks.example/heal", "secret": "••••••••", "timeout_s": 9}',
    }
    response = client.post(f"/admin/recovery/actuator/{actuator.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:1500]
    actuator.refresh_from_db()
    assert actuator.config == {
        "url": "https://hooks.example/heal",
        "secret": "a-very-long-signing-secret",
        "timeout_s": 9,
    }
    entry = AuditLogEntry.objects.filter(action="actuator.save").latest("created_at")
    assert "a-very-long-signing-secret" not in str(entry.before) + str(entry.after)
