"""One way to record a change: the audit entry inside the transaction; the live push and the app's signal
after commit.

Every service that changes state calls ``record_change`` once per change instead of writing the audit entry,
the publish and the signal by hand, so none of the three can be forgotten or sent before the commit.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import models, transaction
from django.dispatch import Signal

from core314.audit import audit_record
from core314.live import publish_on_commit
from core314.models import AuditLogEntry
from core314.tenancy import Actor

logger = logging.getLogger(__name__)


def send_on_commit(signal: Signal, *, sender: Any, **kwargs: Any) -> None:
    """Send an app signal once the transaction commits, robustly: a failing receiver (a broker hiccup while
    enqueueing, say) is logged and never turns a committed change into an error for the caller."""

    def send() -> None:
        for receiver, answer in signal.send_robust(sender=sender, **kwargs):
            if isinstance(answer, Exception):
                logger.error("receiver %r of %s failed", receiver, sender, exc_info=answer)

    transaction.on_commit(send)


def record_change(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    owner: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    system_label: str | None = None,
    event: str = "",
    data: dict[str, Any] | None = None,
    row: models.Model | None = None,
    signal: Signal | None = None,
    signal_kwargs: dict[str, Any] | None = None,
) -> AuditLogEntry:
    """Audit ``action`` on ``target`` now; after commit, publish ``event`` (about ``row``, default the target)
    to the pages allowed to see it, and send ``signal`` with ``signal_kwargs``.

    Must run inside the change's transaction (the audit writer refuses otherwise).
    """
    entry = audit_record(
        actor=actor,
        action=action,
        target=target,
        owner=owner,
        before=before,
        after=after,
        reason=reason,
        system_label=system_label,
    )
    published = row if row is not None else target
    if event and published is not None:
        publish_on_commit(row=published, event=event, data=data)
    if signal is not None:
        send_on_commit(signal, sender=type(published) if published is not None else None, **(signal_kwargs or {}))
    return entry
