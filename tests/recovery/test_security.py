"""Issue 15 ("Hard to break"), the recovery side: approvals are a person's act; actuators never reach the
platform's own Redis, database or caches; outbound calls pass the egress guard."""

from __future__ import annotations

from typing import Any

import pytest

from core314.services import DomainError, PermissionDeniedError
from recovery import services
from recovery.executors.base import ParameterError
from recovery.models import Actuator, RecoveryAction
from tests.recovery.test_engine import _setup, _signal

pytestmark = pytest.mark.django_db

ACTIONS = "/api/v1/recovery-actions/"


def test_a_service_account_cannot_approve_an_action(
    owner: Any, service_account: Any, api_for: Any, endpoint: str
) -> None:
    component = _setup(owner, endpoint, mode="approval")
    action = services.heal_signal(signal_id=_signal(component).pk).action
    assert action.status == "pending_approval"
    with pytest.raises(PermissionDeniedError, match="person"):
        services.action_approve(actor=service_account.user, action=action)
    response = api_for(service_account).post(f"{ACTIONS}{action.pk}/approve/", {"reason": "lgtm"}, format="json")
    assert response.status_code == 403 and "person" in response.json()["detail"]
    assert RecoveryAction.objects.get(pk=action.pk).status == "pending_approval"


# --- Defect 2: actuators never aim at the platform itself -------------------------------------------------


def _platform_dsn() -> str:
    from django.db import connection

    params = connection.get_connection_params()
    user, host, port = params.get("user", "postgres"), params.get("host", "127.0.0.1"), params.get("port", 5432)
    return f"postgresql://{user}@{host}:{port}/x"


def test_a_tenant_cannot_aim_an_actuator_at_the_platforms_redis_database_or_caches(owner: Any, api_for: Any) -> None:
    from django.conf import settings

    from tests.factories import ComponentFactory

    component = ComponentFactory(owner=owner)
    redis_port = settings.REDIS_URL.rsplit(":", 1)[1].split("/")[0]
    same_redis = [
        settings.REDIS_URL,
        settings.REDIS_URL.rsplit("/", 1)[0] + "/15",  # another database of the same server
        f"redis://localhost:{redis_port}/0",
        f"redis://[::1]:{redis_port}/3",
    ]
    for url in same_redis:
        with pytest.raises(DomainError, match="this platform's own services"):
            services.actuator_save(actor=owner, component=component, kind="cache", config={"url": url})
    with pytest.raises(DomainError, match="this platform's own services"):
        services.actuator_save(actor=owner, component=component, kind="postgres", config={"dsn": _platform_dsn()})
    with pytest.raises(PermissionDeniedError, match="caches"):
        services.actuator_save(actor=owner, component=component, kind="cache", config={"django_cache": "default"})
    api = api_for(owner)
    response = api.post(
        "/api/v1/actuators/",
        {"component": component.pk, "kind": "cache", "config": {"url": settings.REDIS_URL}},
        format="json",
    )
    assert response.status_code == 400 and "config.url" in response.json()["detail"], response.content
    assert response.json()["errors"] == {"config.url": [ANY_TEXT]}
    assert not Actuator.objects.exists()


class _AnyText:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)


ANY_TEXT = _AnyText()


def test_a_whole_database_flush_needs_an_administrator(owner: Any, admin: Any, api_for: Any) -> None:
    from tests.factories import ComponentFactory

    component = ComponentFactory(owner=owner)
    services.actuator_save(actor=owner, component=component, kind="cache", config={"url": "redis://10.255.0.1:6379/0"})
    response = api_for(owner).post(
        ACTIONS,
        {"component": component.pk, "action_type": "clear_cache", "parameters": {"all": True}, "reason": "x"},
        format="json",
    )
    assert response.status_code == 400 and "administrator" in response.json()["detail"], response.content
    with pytest.raises(DomainError, match="administrator"):
        services.policy_save(
            actor=owner, owner=owner, name="flush", kinds=["latency_spike"], action_type="clear_cache",
            parameters={"all": True}, mode="automatic",
        )  # fmt: skip
    assert not RecoveryAction.objects.exists()


def test_rows_saved_before_the_guard_are_refused_when_the_platform_connects(owner: Any, admin: Any) -> None:
    """A config stored before these checks (or edited in the database) is checked again at connect time."""
    import redis
    from django.conf import settings

    from recovery.executors.data import ClearCache, ResetConnection
    from tests.factories import ComponentFactory

    url = settings.REDIS_URL.rsplit("/", 1)[0] + "/15"
    client = redis.Redis.from_url(url)
    client.set("platform:key", "keep me")
    try:
        component = ComponentFactory(owner=owner)
        Actuator.objects.create(owner=owner, component=component, kind="cache", config={"url": url})
        context = {"actuator": {"kind": "cache", "config": {"url": url}}, "privileged": False}
        result = ClearCache().execute({"prefix": "platform:", "all": False}, context, timeout_s=2)
        assert not result.ok and "this platform's own services" in result.summary
        result = ClearCache().execute({"prefix": "", "all": True}, context, timeout_s=2)
        assert not result.ok and "administrator" in result.summary
        cached = {"actuator": {"kind": "cache", "config": {"django_cache": "default"}}, "privileged": False}
        assert not ClearCache().execute({"prefix": "", "all": True}, cached, timeout_s=2).ok
        assert client.get("platform:key") == b"keep me"
        dsn = {"actuator": {"kind": "postgres", "config": {"dsn": _platform_dsn()}}, "privileged": False}
        params = ResetConnection().clean({"idle_in_transaction": True})
        with pytest.raises(ParameterError, match="this platform's own services"):
            ResetConnection().plan(params, dsn)
        assert not ResetConnection().execute(params, dsn, timeout_s=2).ok
    finally:
        client.delete("platform:key")
        client.close()


# --- Defect 3: webhooks and escalation channels pass the egress guard -------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "file:///etc/passwd", "http://0.0.0.0/"],
)
def test_webhook_and_escalation_urls_are_checked_when_saved(owner: Any, api_for: Any, url: str) -> None:
    from tests.factories import ComponentFactory

    component = ComponentFactory(owner=owner)
    api = api_for(owner)
    webhook = api.post(
        "/api/v1/actuators/",
        {"component": component.pk, "kind": "webhook", "config": {"url": url, "secret": "s" * 20}},
        format="json",
    )
    assert webhook.status_code == 400 and "config.url" in webhook.json()["detail"], webhook.content
    slack = api.post("/api/v1/escalation-targets/", {"slack_webhook_url": url}, format="json")
    assert slack.status_code == 400 and "slack_webhook_url" in str(slack.json()), slack.content
    pagerduty = api.post(
        "/api/v1/escalation-targets/", {"pagerduty_url": url, "pagerduty_routing_key": "K" * 32}, format="json"
    )
    assert pagerduty.status_code == 400 and "pagerduty_url" in str(pagerduty.json()), pagerduty.content
    with pytest.raises(DomainError, match="slack_webhook_url"):
        services.escalation_target_save(actor=owner, owner=owner, slack_webhook_url=url)


def test_webhooks_and_escalations_are_refused_at_connect_time(owner: Any, endpoint: str, settings: Any) -> None:
    """Rows stored before the guard (or names that resolve elsewhere now): nothing is sent."""
    from recovery.executors.escalation import AlertEscalation
    from recovery.executors.webhook import WebhookAction
    from recovery.models import EscalationTarget
    from tests.endpoints import SECRET, Endpoint
    from tests.factories import ComponentFactory

    settings.CORE314_EGRESS_ALLOW = []
    config = {"url": endpoint, "secret": SECRET, "timeout_s": 2}
    context = {"component": "payments", "actuator": {"kind": "webhook", "config": config}, "privileged": False}
    result = WebhookAction("restart_function").execute({}, context, timeout_s=2)
    assert not result.ok and "egress guard" in result.summary and "loopback" in result.summary
    target = EscalationTarget.objects.create(owner=owner, slack_webhook_url=endpoint, pagerduty_url=endpoint,
                                             pagerduty_routing_key="R" * 32)  # fmt: skip
    component = ComponentFactory(owner=owner)
    escalation = AlertEscalation().execute(
        {"channels": ["slack", "pagerduty"], "note": ""},
        {"component": component.name, "target": target, "privileged": False},
        timeout_s=2,
    )
    assert not escalation.ok
    assert "egress guard" in escalation.details["slack"]["error"]
    assert "egress guard" in escalation.details["pagerduty"]["error"]
    assert Endpoint.received == []
    # The administrator's own rows may reach loopback (the guard's privileged policy).
    assert WebhookAction("restart_function").execute({}, {**context, "privileged": True}, timeout_s=2).ok


def test_a_webhooks_answer_is_not_read_back(owner: Any, endpoint: str) -> None:
    from recovery.executors.webhook import WebhookAction
    from tests.endpoints import SECRET

    context = {"component": "payments", "actuator": {"kind": "webhook", "config": {"url": endpoint, "secret": SECRET,
               "timeout_s": 2}}}  # fmt: skip
    result = WebhookAction("restart_function").execute({}, context, timeout_s=2)
    assert result.ok and result.details["status"] == 200
    assert "accepted" not in str(result.as_dict())
