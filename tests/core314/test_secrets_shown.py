"""Secrets are write-only: URL passwords (a Redis URL with an empty user included), probe targets with
credentials, actuator configs, Slack webhooks and PagerDuty routing keys never come back through the API,
the pages, the admin or the audit log; an edit that leaves the shown form keeps the stored secret."""

from __future__ import annotations

from typing import Any

import pytest

from core314.redact import SECRET_SHOWN, url_shown
from core314.services import DomainError
from health import services as health
from health.models import Probe
from recovery import services as recovery
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db

SECRETS = ("pw-redis-s3cret", "pw-pg-s3cret", "pw-http-s3cret", "tok-s3cret", "s3cretslackpath", "R0UTINGs3cret")


def _everything_shown(client: Any, api: Any, component: Any, probe_ids: list[int]) -> str:
    shown = [
        api.get("/api/v1/probes/").content.decode(),
        api.get("/api/v1/actuators/").content.decode(),
        api.get("/api/v1/escalation-targets/").content.decode(),
        api.get("/api/v1/audit-log/").content.decode(),
        client.get(f"/system-monitor/components/{component.pk}").content.decode(),
        client.get("/audit-log").content.decode(),
        client.get("/admin/health/probe/").content.decode(),
        client.get("/admin/recovery/actuator/").content.decode(),
        client.get("/admin/core314/auditlogentry/").content.decode(),
    ]
    shown += [client.get(f"/admin/health/probe/{pk}/change/").content.decode() for pk in probe_ids]
    return "\n".join(shown)


def test_url_passwords_are_masked_and_the_rest_kept() -> None:
    assert url_shown("redis://:pw@10.0.0.5:6379/0") == f"redis://:{SECRET_SHOWN}@10.0.0.5:6379/0"
    assert url_shown("postgresql://app:pw@db.internal/app") == f"postgresql://app:{SECRET_SHOWN}@db.internal/app"
    assert url_shown("http://u:pw@h/x?token=abc&page=2") == f"http://u:{SECRET_SHOWN}@h/x?token={SECRET_SHOWN}&page=2"
    assert url_shown("https://h/health") == "https://h/health" and url_shown("10.0.0.1:5432") == "10.0.0.1:5432"


def test_no_secret_comes_back_anywhere(admin: Any, client_for: Any, api_for: Any) -> None:
    component = ComponentFactory(owner=admin)
    targets = [
        ("redis", "redis://:pw-redis-s3cret@10.0.0.5:6379/0"),
        ("postgres", "postgresql://app:pw-pg-s3cret@10.0.0.6:5432/app"),
        ("http", "http://ops:pw-http-s3cret@10.0.0.7/health?token=tok-s3cret"),
    ]
    probes = [health.probe_create(actor=admin, component=component, kind=k, target=t) for k, t in targets]
    recovery.actuator_save(
        actor=admin, component=component, kind="cache", config={"url": "redis://:pw-redis-s3cret@10.0.0.5:6379/1"}
    )
    recovery.escalation_target_save(
        actor=admin, owner=admin, component=component,
        slack_webhook_url="https://hooks.slack.example/services/T0/B0/s3cretslackpath",
        pagerduty_url="https://events.pagerduty.example/v2/enqueue", pagerduty_routing_key="R0UTINGs3cret",
    )  # fmt: skip
    health.probe_update(actor=admin, probe=probes[0], target="redis://:pw-redis-s3cret@10.0.0.8:6379/0")
    shown = _everything_shown(client_for(admin), api_for(admin), component, [p.pk for p in probes])
    for secret in SECRETS:
        assert secret not in shown, secret
    # What is shown still says where the probe goes.
    listed = api_for(admin).get("/api/v1/probes/").json()
    assert f"postgresql://app:{SECRET_SHOWN}@10.0.0.6:5432/app" in [p["target"] for p in listed]
    targets_listed = api_for(admin).get("/api/v1/escalation-targets/").json()
    assert targets_listed[0]["has_slack_webhook"] is True and targets_listed[0]["has_pagerduty_key"] is True


def test_a_probe_edit_that_leaves_the_shown_target_keeps_the_secret(admin: Any, client_for: Any) -> None:
    component = ComponentFactory(owner=admin)
    probe = health.probe_create(
        actor=admin, component=component, kind="postgres", target="postgresql://app:pw-pg-s3cret@10.0.0.6/app"
    )
    shown = f"postgresql://app:{SECRET_SHOWN}@10.0.0.6/app"
    health.probe_update(actor=admin, probe=probe, target=shown, interval_s=30)
    probe.refresh_from_db()
    assert probe.target == "postgresql://app:pw-pg-s3cret@10.0.0.6/app" and probe.interval_s == 30
    # Moving the masked secret to another host is not allowed: give the password again.
    with pytest.raises(DomainError, match="password"):
        health.probe_update(actor=admin, probe=probe, target=f"postgresql://app:{SECRET_SHOWN}@10.9.9.9/app")
    # The admin's change form shows the masked target and saving it unchanged keeps the secret.
    client = client_for(admin)
    page = client.get(f"/admin/health/probe/{probe.pk}/change/").content.decode()
    assert "pw-pg-s3cret" not in page and "10.0.0.6/app" in page
    form = {
        "owner": admin.pk, "kind": "postgres", "target": shown, "interval_s": 45, "timeout_s": 2.0,
        "expected_status": 200, "body_match": "", "options": "{}", "enabled": "on",
        "next_run_at_0": "2026-01-01", "next_run_at_1": "00:00:00",
    }  # fmt: skip
    answer = client.post(f"/admin/health/probe/{probe.pk}/change/", form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    stored = Probe.objects.get(pk=probe.pk)
    assert stored.target == "postgresql://app:pw-pg-s3cret@10.0.0.6/app" and stored.interval_s == 45


def test_a_webhook_plan_does_not_show_the_urls_secrets(owner: Any, api_for: Any) -> None:
    component = ComponentFactory(owner=owner)
    url = "https://deploy:pw-http-s3cret@10.0.0.9/hook?token=tok-s3cret"
    recovery.actuator_save(actor=owner, component=component, kind="webhook", config={"url": url, "secret": "s" * 20})
    body = {"component": component.pk, "action_type": "scale_up", "parameters": {"replicas": 2}}
    plan = api_for(owner).post("/api/v1/recovery-actions/dry-run/", body, format="json")
    assert plan.status_code == 200 and "10.0.0.9/hook" in plan.content.decode()
    assert "pw-http-s3cret" not in plan.content.decode() and "tok-s3cret" not in plan.content.decode()


def test_a_deployments_spec_is_shown_without_its_secrets(admin: Any, client_for: Any, api_for: Any) -> None:
    from recovery.models import Deployment

    component = ComponentFactory(owner=admin)
    spec = {"argv": ["app", "--password=s3cretarg"], "env": {"API_TOKEN": "s3cretenv", "MODE": "prod"}, "cwd": ""}
    deployment = Deployment.objects.create(owner=admin, component=component, version="v1", spec=spec)
    shown = api_for(admin).get("/api/v1/deployments/").content.decode()
    shown += client_for(admin).get(f"/admin/recovery/deployment/{deployment.pk}/change/").content.decode()
    assert "s3cretarg" not in shown and "s3cretenv" not in shown and "prod" in shown
