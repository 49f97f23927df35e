from __future__ import annotations

from typing import Any

from django.db import transaction

from core314.audit import audit_record
from core314.live import publish_on_commit
from core314.services import ConflictError
from core314.tenancy import Actor, effective_owner
from health.models import Component, ComponentType

# The platform's own parts, watched like any other component (ARCHITECTURE: "monitors its own parts").
PLATFORM_COMPONENTS: list[tuple[str, str, str]] = [
    ("core314-web", ComponentType.API, "Core314 web and API servers (daphne)"),
    ("core314-postgresql", ComponentType.DATABASE, "The platform's PostgreSQL database"),
    ("core314-redis", ComponentType.CACHE, "Broker, channel layer and cache"),
    ("core314-worker", ComponentType.WORKER, "Celery workers"),
    ("core314-beat", ComponentType.WORKER, "Celery beat scheduler"),
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
    audit_record(
        actor=actor,
        action="component.create",
        target=component,
        after={"name": name, "type": type, "environment": environment},
    )
    publish_on_commit(row=component, event="component.created", data={"name": name})
    return component


@transaction.atomic
def platform_components_ensure(*, actor: Actor, owner: Any) -> list[Component]:
    """Create the platform's own components for ``owner`` where missing (safe to run at every start)."""
    components = []
    existing = {c.name: c for c in Component.objects.filter(owner=owner, is_platform=True)}
    for name, type_, description in PLATFORM_COMPONENTS:
        component = existing.get(name)
        if component is None:
            component = component_create(
                actor=actor,
                owner=owner,
                name=name,
                type=type_,
                description=description,
                tags=["platform"],
                is_platform=True,
            )
        components.append(component)
    by_name = {c.name: c for c in components}
    web = by_name["core314-web"]
    web.depends_on.add(by_name["core314-postgresql"], by_name["core314-redis"])
    by_name["core314-worker"].depends_on.add(by_name["core314-postgresql"], by_name["core314-redis"])
    by_name["core314-beat"].depends_on.add(by_name["core314-postgresql"], by_name["core314-redis"])
    return components
