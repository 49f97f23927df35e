"""Live updates: services publish row changes after commit; the consumer forwards them to browsers.

Messages carry ids and a few fields only. A page that needs more fetches its fragment over HTTP, which goes
through ``visible_to`` again, so a socket can never leak more than the page would show.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import models, transaction

from core314.tenancy import groups_for_row

logger = logging.getLogger(__name__)


def send_now(groups: list[str], message: dict[str, Any]) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _send(groups, message)
    else:
        # Called from a thread that runs an event loop: async_to_sync cannot run here, a helper thread can.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(_send, groups, message).result()


def _send(groups: list[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, {"type": "live.message", "message": message})
        except Exception:
            # A live push is best effort: the change is committed and pages re-sync on reconnect.
            logger.exception("live publish to %s failed", group)


def publish_on_commit(*, row: models.Model, event: str, data: dict[str, Any] | None = None) -> None:
    """Announce a change of ``row`` to the groups allowed to see it, once the transaction commits."""
    message = {
        "event": event,
        "model": row._meta.label_lower,
        "id": row.pk,
        "data": data or {},
    }
    groups = groups_for_row(row)
    transaction.on_commit(lambda: send_now(groups, message))
