"""Actuators: how the platform acts on a component (saving one), starting, stopping and deploying supervised
processes, and the record of what version runs where."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from core314 import egress
from core314.changes import record_change
from core314.services import DomainError, FieldError, PermissionDeniedError
from core314.tenancy import Actor, is_admin
from health.models import Component
from recovery import supervisor
from recovery.actuators import ADMIN_ONLY_KINDS, ActuatorConfigError, clean_config, egress_target, redacted
from recovery.models import Actuator, ActuatorKind, Deployment
from recovery.services.scalein import scale_out_end


@transaction.atomic
def actuator_save(*, actor: Actor, component: Component, kind: str, config: Any, enabled: bool = True) -> Actuator:
    """Configure how the platform acts on a component (validated per kind; some kinds are admin-only)."""
    if kind in ADMIN_ONLY_KINDS and not is_admin(actor):
        raise PermissionDeniedError(f"Only administrators configure {kind} actuators: they run code on this machine.")
    try:
        cleaned = clean_config(kind, config)
    except ActuatorConfigError as exc:
        if exc.field:
            raise FieldError(f"config.{exc.field}", str(exc)) from exc
        raise DomainError(str(exc)) from exc
    privileged = egress.save_privileged(actor=actor, owner=component.owner)
    if "django_cache" in cleaned and not privileged:
        # A CACHES alias is one of the platform's own caches (the default one is its Redis: broker, channel
        # layer, heartbeats), and clearing a Django cache flushes its whole database.
        raise PermissionDeniedError("Only administrators' actuators may name the platform's own caches (django_cache).")
    target = egress_target(kind, cleaned)
    if target is not None:
        field, egress_kind, value = target
        try:
            egress.policy_for(privileged=privileged).check(egress_kind, value)
        except egress.EgressRefused as exc:
            raise FieldError(f"config.{field}", str(exc)) from exc
    actuator, created = Actuator.objects.select_for_update().get_or_create(
        component=component, kind=kind, defaults={"owner_id": component.owner_id, "config": cleaned}
    )
    before = None if created else redacted(kind, actuator.config)
    actuator.config = cleaned
    actuator.enabled = enabled
    actuator.save()
    record_change(
        actor=actor,
        action="actuator.save",
        target=actuator,
        before=before,
        after={"kind": kind, "enabled": enabled, "config": redacted(kind, cleaned)},
    )
    return actuator


@transaction.atomic
def deployment_record(
    *, actor: Actor, component: Component, version: str, spec: Any = None, known_good: bool | None = None
) -> Deployment:
    """Record that ``version`` now runs on ``component`` (deploy tools call this; process switches do it too)."""
    if not isinstance(version, str) or not 0 < len(version.strip()) <= 64:
        raise DomainError("version must be a non-empty string of at most 64 characters.")
    if spec is not None and not isinstance(spec, dict):
        raise DomainError("spec must be a JSON object.")
    deployment = Deployment.objects.create(
        owner_id=component.owner_id,
        component=component,
        version=version.strip(),
        spec=spec or {},
        known_good=known_good,
        deployed_by=getattr(actor, "username", "") or "system",
    )
    record_change(actor=actor, action="deployment.record", target=deployment, after={"version": deployment.version})
    return deployment


@transaction.atomic
def deployment_mark(*, actor: Actor, deployment: Deployment, known_good: bool | None) -> Deployment:
    """Say whether a recorded version is known good (rollbacks go to the newest one that is)."""
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    before = {"known_good": deployment.known_good}
    deployment.known_good = known_good
    deployment.save(update_fields=["known_good"])
    record_change(
        actor=actor, action="deployment.mark", target=deployment, before=before, after={"known_good": known_good}
    )
    return deployment


def process_control(
    *, actor: Actor, actuator: Actuator, operation: str, version: str = "", replicas: int | None = None
) -> dict[str, Any]:
    """Start, stop or deploy (switch version) a supervised process; administrators only."""
    if not is_admin(actor):
        raise PermissionDeniedError("Only administrators start and stop processes.")
    if actuator.kind != ActuatorKind.PROCESS:
        raise DomainError("This actuator does not supervise a process.")
    if operation not in {"start", "stop", "restart", "deploy", "status"}:
        raise DomainError("operation must be start, stop, restart, deploy or status.")
    state = actuator.state or {}
    if operation == "status":
        return supervisor.describe(state)
    config = actuator.config
    current = state.get("version") or config["version"]
    target = version or current
    if target not in config["versions"]:
        raise DomainError(f"version {target!r} is not configured.")
    count = config["replicas"] if replicas is None else replicas
    if operation == "stop":
        count = 0
    elif not 1 <= count <= config["max_replicas"]:
        raise DomainError(f"replicas must be from 1 to {config['max_replicas']}.")
    with transaction.atomic():
        locked = Actuator.objects.select_for_update().get(pk=actuator.pk)
        try:
            new_state, done = supervisor.converge(
                config,
                locked.state or {},
                version=target,
                replicas=count,
                name=f"{locked.component_id}-{locked.component.name}"[:60],
                restart=operation in {"deploy", "restart"},
            )
        except supervisor.SupervisorError as exc:
            raise DomainError(str(exc)) from exc
        locked.state = new_state
        locked.save(update_fields=["state", "updated_at"])
        scale_out_end(
            component=locked.component, why=f"a person ran {operation} ({count} replica(s)): their count stands"
        )
        first_start = not Deployment.objects.filter(component_id=locked.component_id).exists()
        if operation == "deploy" or (operation == "start" and (target != current or first_start)):
            Deployment.objects.create(
                owner_id=locked.owner_id,
                component_id=locked.component_id,
                version=target,
                spec=config["versions"][target],
                deployed_by=getattr(actor, "username", ""),
            )
        record_change(
            actor=actor,
            action=f"process.{operation}",
            target=locked,
            after={"version": target, "replicas": count},
            reason="; ".join(done)[:1000],
            event="actuator.changed",
            data={"operation": operation},
        )
    return {**supervisor.describe(new_state), "steps": done}
