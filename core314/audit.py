"""The audit log writer. Services call it inside their transaction, next to the change it records."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from core314.models import AuditLogEntry
from core314.tenancy import Actor, effective_owner


class AuditOutsideTransactionError(RuntimeError):
    pass


def _actor_fields(actor: Actor) -> dict[str, Any]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {"actor": None, "actor_kind": AuditLogEntry.ActorKind.SYSTEM, "actor_label": "system"}
    kind = (
        AuditLogEntry.ActorKind.SERVICE_ACCOUNT if hasattr(actor, "service_account") else AuditLogEntry.ActorKind.USER
    )
    return {"actor": actor, "actor_kind": kind, "actor_label": actor.get_username()[:150]}


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    owner: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    system_label: str | None = None,
) -> AuditLogEntry:
    """Write one audit entry. ``actor=None`` is a system task (``system_label`` names it).

    The owner defaults to the target's owner, else the actor's effective owner; an entry with no owner is
    platform-wide and visible to administrators only.
    """
    if not transaction.get_connection().in_atomic_block:
        # An entry written outside the change's transaction could survive a rolled-back change.
        raise AuditOutsideTransactionError(f"audit_record({action!r}) must run inside transaction.atomic()")
    if owner is None and target is not None:
        owner = getattr(target, "owner", None)
    if owner is None and actor is not None and getattr(actor, "is_authenticated", False):
        owner = effective_owner(actor)
    fields = _actor_fields(actor)
    if system_label and fields["actor_kind"] == AuditLogEntry.ActorKind.SYSTEM:
        fields["actor_label"] = system_label
    return AuditLogEntry.objects.create(
        owner=owner,
        action=action,
        object_type=target._meta.label_lower if target is not None else "",
        object_id=str(target.pk) if target is not None else "",
        object_repr=str(target)[:200] if target is not None else "",
        before=before,
        after=after,
        reason=reason,
        **fields,
    )
