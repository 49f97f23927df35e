"""Components: created, their status thresholds and damping changed, and the platform's own parts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import transaction

from core314.changes import record_change
from core314.services import ConflictError, DomainError
from core314.tenancy import Actor, effective_owner
from health import thresholds
from health.models import Component, ComponentType, Probe
from health.services.probes import probe_create

# The platform's own parts, watched like any other component (ARCHITECTURE: "monitors its own parts").
PLATFORM_COMPONENTS: list[tuple[str, str, str]] = [
    ("core314-web", ComponentType.API, "Core314 web and API servers (daphne)"),
    ("core314-postgresql", ComponentType.DATABASE, "The platform's PostgreSQL database"),
    ("core314-redis", ComponentType.CACHE, "Broker, channel layer and cache"),
    ("core314-worker", ComponentType.WORKER, "Celery workers"),
    ("core314-beat", ComponentType.WORKER, "Celery beat scheduler"),
    ("core314-selftest", ComponentType.WORKER, "The platform's scheduled self-tests (a failing check shows here)"),
]


@transaction.atomic
def component_create(
    *,
    actor: Actor,
    name: str,
    type: str = ComponentType.API,
    environment: str = "production",
    description: str = "",
    tags: list[str] | None = None,
    is_platform: bool = False,
    owner: Any = None,
    depends_on: Iterable[Component] = (),
) -> Component:
    owner = owner or effective_owner(actor)
    if Component.objects.filter(owner=owner, name=name, environment=environment).exists():
        raise ConflictError(f"A component named {name!r} already exists in {environment!r}.")
    component = Component.objects.create(
        owner=owner,
        name=name,
        type=type,
        environment=environment,
        description=description,
        tags=tags or [],
        is_platform=is_platform,
    )
    component.depends_on.set([d for d in depends_on if d.owner_id == owner.pk])
    record_change(
        actor=actor,
        action="component.create",
        target=component,
        after={"name": name, "type": type, "environment": environment},
        event="component.created",
        data={"name": name},
    )
    return component


@transaction.atomic
def component_update_settings(
    *,
    actor: Actor,
    component: Component,
    thresholds_override: Mapping[str, Any] | None = None,
    flap_bad_n: int | None = None,
    flap_window_m: int | None = None,
    flap_recover_k: int | None = None,
    stale_after_s: int | None = None,
) -> Component:
    """Change a component's status thresholds, flap damping or staleness; validated, audited."""
    component = Component.objects.select_for_update().get(pk=component.pk)
    before = {
        "thresholds": component.thresholds,
        "flap": [component.flap_bad_n, component.flap_window_m, component.flap_recover_k],
        "stale_after_s": component.stale_after_s,
    }
    if thresholds_override is not None:
        problems = thresholds.validate_thresholds(thresholds_override)
        if problems:
            raise DomainError("; ".join(problems))
        component.thresholds = dict(thresholds_override)
    n = flap_bad_n if flap_bad_n is not None else component.flap_bad_n
    m = flap_window_m if flap_window_m is not None else component.flap_window_m
    k = flap_recover_k if flap_recover_k is not None else component.flap_recover_k
    if not (1 <= n <= m <= 20 and 1 <= k <= 20):
        raise DomainError("Flap damping needs 1 ≤ N ≤ M ≤ 20 and 1 ≤ K ≤ 20.")
    component.flap_bad_n, component.flap_window_m, component.flap_recover_k = n, m, k
    if stale_after_s is not None:
        if not 5 <= stale_after_s <= 86_400:
            raise DomainError("stale_after_s must be between 5 and 86400 seconds.")
        component.stale_after_s = stale_after_s
    component.save()
    after = {
        "thresholds": component.thresholds,
        "flap": [component.flap_bad_n, component.flap_window_m, component.flap_recover_k],
        "stale_after_s": component.stale_after_s,
    }
    record_change(
        actor=actor,
        action="component.update_settings",
        target=component,
        before=before,
        after=after,
        event="component.updated",
        data={"name": component.name},
    )
    return component


COMPONENT_FIELDS = ("name", "type", "environment", "description", "tags")


@transaction.atomic
def component_update(
    *,
    actor: Actor,
    component: Component,
    depends_on: Iterable[Component] | None = None,
    **fields: Any,
) -> Component:
    """Rename or re-describe a component, change its tags or what it depends on; validated, audited, live."""
    unknown = set(fields) - set(COMPONENT_FIELDS)
    if unknown:
        raise DomainError(f"Unknown component field(s): {', '.join(sorted(unknown))}.")
    component = Component.objects.select_for_update().get(pk=component.pk)
    before = {name: getattr(component, name) for name in fields}
    if "type" in fields and fields["type"] not in ComponentType.values:
        raise DomainError(f"type must be one of {', '.join(ComponentType.values)}.")
    tags = fields.get("tags", component.tags)
    if not isinstance(tags, list) or len(tags) > 20 or not all(isinstance(t, str) and 0 < len(t) <= 40 for t in tags):
        raise DomainError("tags must be a list of at most 20 words of at most 40 characters.")
    name, environment = fields.get("name", component.name), fields.get("environment", component.environment)
    clash = Component.objects.filter(owner_id=component.owner_id, name=name, environment=environment)
    if clash.exclude(pk=component.pk).exists():
        raise ConflictError(f"A component named {name!r} already exists in {environment!r}.")
    for field, value in fields.items():
        setattr(component, field, value)
    component.save()
    after = {name: getattr(component, name) for name in fields}
    if depends_on is not None:
        wanted = list(depends_on)
        if any(d.owner_id != component.owner_id or d.pk == component.pk for d in wanted):
            raise DomainError("A component depends only on other components of the same owner.")
        before["depends_on"] = sorted(component.depends_on.values_list("pk", flat=True))
        component.depends_on.set(wanted)
        after["depends_on"] = sorted(d.pk for d in wanted)
    record_change(
        actor=actor,
        action="component.update",
        target=component,
        before=before,
        after=after,
        event="component.updated",
        data={"name": component.name},
    )
    return component


@transaction.atomic
def platform_components_ensure(*, actor: Actor, owner: Any, web_url: str | None = None) -> list[Component]:
    """The platform's own components and their probes for ``owner``, created where missing."""
    existing = {c.name: c for c in Component.objects.filter(owner=owner, is_platform=True)}
    by_name: dict[str, Component] = {}
    for name, type_, description in PLATFORM_COMPONENTS:
        component = existing.get(name) or component_create(
            actor=actor,
            owner=owner,
            name=name,
            type=type_,
            description=description,
            tags=["platform"],
            is_platform=True,
        )
        by_name[name] = component
    for dependent in ("core314-web", "core314-worker", "core314-beat"):
        by_name[dependent].depends_on.add(by_name["core314-postgresql"], by_name["core314-redis"])
    database = settings.DATABASES["default"]
    dsn = (
        f"postgresql://{database.get('USER') or 'postgres'}@{database.get('HOST') or '127.0.0.1'}:"
        f"{database.get('PORT') or 5432}/{database['NAME']}"
    )
    wanted = [
        (by_name["core314-postgresql"], "postgres", dsn),
        (by_name["core314-redis"], "redis", settings.REDIS_URL),
        (by_name["core314-worker"], "platform", "worker"),
        (by_name["core314-beat"], "platform", "beat"),
    ]
    if web_url:
        wanted.append((by_name["core314-web"], "http", f"{web_url.rstrip('/')}/healthz"))
    for component, kind, target in wanted:
        if not Probe.objects.filter(component=component, kind=kind).exists():
            probe_create(actor=actor, component=component, kind=kind, target=target, interval_s=10, timeout_s=3)
    return list(by_name.values())
