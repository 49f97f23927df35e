"""Every URL in the resolver, walked as the owner, another user, an administrator, the owner's service
account and an anonymous visitor.

Nothing here lists endpoints by hand: a page, API route, export or admin view added later is found in the
resolver and checked the same way. A URL whose arguments the walker cannot fill, or a detail URL whose
model it cannot tell, fails the test until the walker learns it, so nothing is skipped silently.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from anomalies.models import AnomalySignal, DetectionSettings, Incident, Silence
from core314 import services
from core314.models import ApiToken, AuditLogEntry, IdempotencyKey, ServiceAccount
from core314.tenancy import OwnedQuerySet
from health.models import Component
from recovery.models import (
    Actuator,
    Backoff,
    CircuitBreaker,
    Demotion,
    Deployment,
    EscalationTarget,
    HealingDecision,
    RecoveryPolicy,
    ScaleOut,
)
from selftest.models import SelfTestResult
from tests import factories

pytestmark = pytest.mark.django_db

# Reachable without signing in, by design; none of them shows a row.
PUBLIC = {"healthz", "readyz", "login", "metrics", "admin:login"}
# Not a GET resource: logging out, admin's own session and i18n plumbing.
NOT_RESOURCES = {
    "logout",
    "admin:logout",
    "admin:password_change",
    "admin:password_change_done",
    "admin:jsi18n",
}
# Needs query arguments naming a model admin; it answers through that admin's (scoped) get_queryset.
NOT_RESOURCES.add("admin:autocomplete")


@dataclass
class Route:
    name: str
    params: list[str]
    callback: Any

    @property
    def is_admin(self) -> bool:
        return self.name.startswith("admin:")


def _walk(patterns: list[Any], namespace: str = "", params: tuple[str, ...] = ()) -> list[Route]:
    routes = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            routes += _walk(entry.url_patterns, ns, params + tuple(entry.pattern.regex.groupindex))
        elif isinstance(entry, URLPattern) and entry.name:
            routes.append(Route(namespace + entry.name, [*params, *entry.pattern.regex.groupindex], entry.callback))
    return routes


def all_routes() -> list[Route]:
    seen: dict[str, Route] = {}
    for route in _walk(get_resolver().url_patterns):
        if "format" in route.params:
            continue  # DRF's ".json" suffix twin of a route that is walked anyway
        # Two routes with one name: reverse() finds only one, so the other would escape the walk.
        assert route.name not in seen, f"two URL patterns are named {route.name!r}"
        seen[route.name] = route
    return list(seen.values())


def model_of(route: Route) -> type[models.Model] | None:
    callback = route.callback
    if getattr(callback, "model_admin", None) is not None:
        return callback.model_admin.model
    cls = getattr(callback, "cls", None)
    if cls is not None and getattr(cls, "queryset", None) is not None:
        return cls.queryset.model
    return getattr(callback, "owned_model", None)


def is_owned(model: type[models.Model] | None) -> bool:
    return model is not None and isinstance(model._default_manager.all(), OwnedQuerySet)


@dataclass
class World:
    owner: Any
    other: Any
    admin: Any
    service: Any
    rows: dict[str, dict[type[models.Model], models.Model]]
    markers: dict[str, list[str]]


def _rows_for(user: Any, tag: str) -> tuple[dict[type[models.Model], models.Model], list[str]]:
    mark = f"{tag}{uuid.uuid4().hex[:8]}"
    component = factories.ComponentFactory(owner=user, name=f"{mark}-component")
    event = factories.HealthEventFactory(component=component, version=f"{mark}-v")
    signal = factories.AnomalySignalFactory(component=component, metric=f"{mark}-metric")
    incident = Incident.objects.create(owner=user, component=component, title=f"{mark}-incident")
    AnomalySignal.objects.filter(pk=signal.pk).update(incident=incident)
    action = factories.RecoveryActionFactory(component=component, signal=signal, reason=f"{mark}-reason")
    run = factories.SelfTestRunFactory(owner=user, environment=f"{mark}-env")
    result = factories.SelfTestResultFactory(run=run, check_name=f"{mark}-check")
    audit = factories.AuditLogEntryFactory(owner=user, object_repr=f"{mark}-audit")
    account = services.service_account_create(actor=user, owner=user, name=f"{mark}-sa")
    token = services.api_token_create(actor=user, service_account=account, name=f"{mark}-token").token
    record = factories.ExecutionRecordFactory(component=component, message=f"{mark}-message")
    probe = factories.ProbeFactory(component=component, target=f"http://{mark}.invalid/healthz")
    silence = Silence.objects.create(
        owner=user, component=component, ends_at=timezone.now() + timedelta(hours=1), reason=f"{mark}-silence"
    )
    detection = DetectionSettings.objects.create(owner=user, component=component, threshold=6)
    breaker = CircuitBreaker.objects.create(owner=user, component=component, reason=f"{mark}-breaker")
    escalation = EscalationTarget.objects.create(owner=user, component=component, emails=[f"{mark}@example.com"])
    actuator = Actuator.objects.create(
        owner=user, component=component, kind="webhook", config={"url": f"https://{mark}.example/hook"}
    )
    policy = RecoveryPolicy.objects.create(owner=user, name=f"{mark}-policy", action_type="restart_function")
    decision = HealingDecision.objects.create(
        owner=user, signal=signal, component=component, severity="high", outcome="skipped", reason=f"{mark}-why"
    )
    backoff = Backoff.objects.create(owner=user, component=component, action_type="restart_function", attempts=2)
    deployment = Deployment.objects.create(owner=user, component=component, version=f"{mark}-v2")
    demotion = Demotion.objects.create(
        owner=user, component=component, action_type="restart_function", reason=f"{mark}-demoted"
    )
    scale_out = ScaleOut.objects.create(
        owner=user, component=component, metric="cpu_percent", from_replicas=1, replicas=2, steps=1,
        cooldown_s=300, waiting=f"{mark}-waiting",
    )  # fmt: skip
    idempotency = IdempotencyKey.objects.create(
        owner=user, scope="test", key=f"{mark}-key", request_hash="x", response_status=201, response_body={}
    )
    rows = {
        type(component): component,
        type(event): event,
        type(signal): signal,
        Incident: incident,
        type(action): action,
        type(run): run,
        type(result): result,
        AuditLogEntry: audit,
        ServiceAccount: account,
        ApiToken: token,
        type(record): record,
        type(probe): probe,
        IdempotencyKey: idempotency,
        Silence: silence,
        DetectionSettings: detection,
        CircuitBreaker: breaker,
        EscalationTarget: escalation,
        Actuator: actuator,
        RecoveryPolicy: policy,
        HealingDecision: decision,
        Backoff: backoff,
        Deployment: deployment,
        Demotion: demotion,
        ScaleOut: scale_out,
    }
    return rows, [mark]


def html_pages(rows: dict[type[models.Model], models.Model]) -> list[str]:
    """The pages people read, with ``rows`` (from ``_rows_for``) on the detail pages; the admin's too."""
    from anomalies.models import AnomalySignal
    from recovery.models import RecoveryAction

    return [
        "/system-monitor", "/anomaly-console", "/recovery-manager", "/selftest-panel", "/audit-log",
        f"/system-monitor/components/{rows[Component].pk}", f"/anomaly-console/signals/{rows[AnomalySignal].pk}",
        f"/recovery-manager/actions/{rows[RecoveryAction].pk}/", "/recovery-manager/policies/",
        f"/recovery-manager/policies/{rows[RecoveryPolicy].pk}/?replay=1&days=7", "/api/v1/docs/", "/admin/",
        "/admin/health/component/", f"/admin/health/component/{rows[Component].pk}/change/",
    ]  # fmt: skip


@pytest.fixture
def world(owner: Any, other_user: Any, admin: Any, service_account: Any) -> World:
    owner_rows, owner_marks = _rows_for(owner, "alicemark")
    other_rows, other_marks = _rows_for(other_user, "bobmark")
    return World(
        owner=owner,
        other=other_user,
        admin=admin,
        service=service_account,
        rows={"owner": owner_rows, "other": other_rows},
        markers={"owner": owner_marks, "other": other_marks},
    )


def _url(route: Route, row: models.Model | None) -> str:
    if not route.params:
        return reverse(route.name)
    kwargs = {}
    for param in route.params:
        if param in {"pk", "object_id"} and row is not None:
            kwargs[param] = str(row.pk)
        elif param == "name" and isinstance(row, SelfTestResult):
            kwargs[param] = row.check_name  # a self-test check's history
        else:
            pytest.fail(f"{route.name}: the tenancy walker cannot fill <{param}>; teach it this URL")
    return reverse(route.name, kwargs=kwargs)


def _body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _assert_hidden(body: str, world: World, whose: str, context: str) -> None:
    for mark in world.markers[whose]:
        assert mark not in body, f"{context}: leaked {whose}'s row ({mark})"


def _get(client: Any, url: str, follow: bool = True) -> Any:
    return client.get(url, HTTP_ACCEPT="text/html,application/json", follow=follow)


def test_every_route_respects_tenancy(world: World, client_for: Any, api_for: Any) -> None:
    routes = [r for r in all_routes() if r.name not in NOT_RESOURCES]
    assert len(routes) > 30, "the walker found suspiciously few URLs"
    checked = 0
    for route in routes:
        model = model_of(route)
        is_api = getattr(route.callback, "cls", None) is not None  # DRF views carry their class
        owned = is_owned(model)
        if route.is_admin and route.params and model is None:
            # An admin-site view with no model of its own (view_on_site): staff only, like the whole admin.
            component = world.rows["owner"][Component]
            fill = {
                "content_type_id": ContentType.objects.get_for_model(Component).pk,
                "id": world.owner.pk,
                "app_label": "health",
            }
            kwargs = {param: fill.get(param, component.pk) for param in route.params}
            response = client_for(world.other).get(reverse(route.name, kwargs=kwargs))
            assert response.status_code == 302, f"{route.name}: a non-administrator reached the admin"
            checked += 1
            continue
        if route.params and not owned:
            if model is None:
                pytest.fail(f"{route.name}: a URL with arguments whose model the walker cannot tell")
            continue  # rows of unowned tables (users, beat schedules) are admin-only; checked below as such

        owner_row = world.rows["owner"].get(model) if owned else None
        url = _url(route, owner_row)
        context = f"{route.name} ({url})"
        actions = getattr(route.callback, "actions", None) or {}
        post_only = actions and "get" not in actions
        is_list = actions.get("get") == "list" or route.name.endswith("_changelist")

        # Anonymous: a redirect to sign in, or 401/403; never data.
        anonymous = (api_for if is_api else client_for)(None)
        response = anonymous.post(url) if post_only else _get(anonymous, url, follow=False)
        if route.name in PUBLIC:
            assert response.status_code in {200, 503}, context
            for whose in ("owner", "other"):
                _assert_hidden(_body(response), world, whose, context)
            checked += 1
            continue
        assert response.status_code in {301, 302, 401, 403}, f"{context}: anonymous got {response.status_code}"
        _assert_hidden(_body(response), world, "owner", context)
        _assert_hidden(_body(response), world, "other", context)

        # The other user: a 404 for the owner's row (also on actions), an absent row in lists.
        other = (api_for if is_api else client_for)(world.other)
        if post_only and not route.params:
            # A collection action (batch ingest): what it may touch is checked in that app's API tests.
            checked += 1
            continue
        if post_only:
            response = other.post(url, {}, format="json") if is_api else other.post(url)
            assert response.status_code == 404, f"{context}: another user's action got {response.status_code}"
            checked += 1
            continue
        response = _get(other, url, follow=not route.is_admin)
        if response.status_code == 405 and not is_api:
            # A page action that only accepts POST: another user's POST must find nothing to act on.
            if route.params:
                response = other.post(url)
                assert response.status_code == 404, f"{context}: another user's POST got {response.status_code}"
            checked += 1
            continue
        if route.is_admin:
            assert response.status_code == 302, f"{context}: a non-administrator reached the admin"
        elif route.params:
            assert response.status_code == 404, f"{context}: another user's row answered {response.status_code}"
        else:
            # 400: a collection read that needs a query argument (it answered with a message, nothing else).
            assert response.status_code in {200, 400, 503}, f"{context}: {response.status_code}"
        _assert_hidden(_body(response), world, "owner", context)

        # The owner sees their row; the admin sees every user's rows.
        if not route.is_admin:
            response = _get((api_for if is_api else client_for)(world.owner), url)
            assert response.status_code in {200, 400, 503}, f"{context}: the owner got {response.status_code}"
            _assert_hidden(_body(response), world, "other", context)
            # Lists and detail views show the row; sub-resources (availability, history) answer about it.
            shows_row = is_list or actions.get("get") == "retrieve" or (not actions and route.params)
            if owned and shows_row:
                assert world.markers["owner"][0] in _body(response), f"{context}: the owner does not see their row"
        response = _get((api_for if is_api else client_for)(world.admin), url)
        # 403 where the admin site itself forbids the view to everyone (adding audit entries by hand).
        allowed = {200, 400, 503} if not route.is_admin or is_list else {200, 403}
        assert response.status_code in allowed, f"{context}: the admin got {response.status_code}"
        if owned and is_list:
            body = _body(response)
            assert world.markers["owner"][0] in body, f"{context}: the admin does not see the owner's rows"
            assert world.markers["other"][0] in body, f"{context}: the admin does not see other users' rows"

        # The owner's service account acts for the owner through the API.
        if is_api and not route.is_admin:
            response = _get(api_for(world.service), url)
            assert response.status_code in {200, 400}, f"{context}: the service account got {response.status_code}"
            _assert_hidden(_body(response), world, "other", context)
        checked += 1
    assert checked > 30


def test_every_owned_model_is_reachable_through_the_api_and_the_admin() -> None:
    """An owned table with no list endpoint or admin would escape the walk above."""
    from django.apps import apps

    routes = all_routes()
    api_models = {model_of(r) for r in routes if getattr(r.callback, "cls", None) is not None}
    admin_models = {model_of(r) for r in routes if r.is_admin}
    # Bookkeeping with no meaning to a client: the admin shows it, the API does not.
    internal = {IdempotencyKey}
    for model in apps.get_models():
        if is_owned(model):
            assert model in admin_models, f"{model.__name__} has no admin"
            assert model in api_models or model in internal, f"{model.__name__} has no API route"
