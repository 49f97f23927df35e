"""The live socket: authenticated users only, same-origin only, and only the rows they may see."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from core314.asgi import application
from core314.consumers import LiveConsumer
from core314.live import send_now
from core314.tenancy import groups_for_row
from tests.factories import ComponentFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _connect(user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/")
    communicator.scope["user"] = user
    return communicator


async def test_an_anonymous_socket_is_refused() -> None:
    communicator = await _connect(AnonymousUser())
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401


async def test_a_foreign_origin_is_refused() -> None:
    communicator = WebsocketCommunicator(
        application, "/ws/live/", headers=[(b"origin", b"http://evil.example"), (b"host", b"localhost")]
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_each_user_receives_only_rows_they_may_see(owner: Any, other_user: Any, admin: Any) -> None:
    row = await database_sync_to_async(ComponentFactory)(owner=owner)
    sockets = {}
    for name, user in {"owner": owner, "other": other_user, "admin": admin}.items():
        sockets[name] = await _connect(user)
        connected, _ = await sockets[name].connect()
        assert connected
        assert (await sockets[name].receive_json_from())["event"] == "hello"

    message = {"event": "component.updated", "model": "health.component", "id": row.pk, "data": {}}
    await database_sync_to_async(send_now)(groups_for_row(row), message)

    assert await sockets["owner"].receive_json_from(timeout=2) == message
    assert await sockets["admin"].receive_json_from(timeout=2) == message
    assert await sockets["other"].receive_nothing(timeout=0.5)
    for socket in sockets.values():
        await socket.disconnect()


async def test_the_channel_layer_is_redis() -> None:
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"


async def test_a_committed_service_change_reaches_the_owners_socket(owner: Any, other_user: Any) -> None:
    from core314 import services

    mine, theirs = await _connect(owner), await _connect(other_user)
    for socket in (mine, theirs):
        assert (await socket.connect())[0]
        await socket.receive_json_from()
    await database_sync_to_async(services.service_account_create)(actor=owner, owner=owner, name="pusher")
    message = await mine.receive_json_from(timeout=2)
    assert message["event"] == "service_account.created"
    assert message["data"] == {"name": "pusher"}
    assert await theirs.receive_nothing(timeout=0.5)
    await mine.disconnect()
    await theirs.disconnect()


async def test_an_idle_socket_stays_connected_and_still_receives(owner: Any) -> None:
    """Past the channel layer's 5 s blocking read (and redis-py's default 5 s socket timeout), an idle page
    must keep its socket: it once closed with 1011 after 5.9 s of silence."""
    import asyncio

    row = await database_sync_to_async(ComponentFactory)(owner=owner)
    socket = await _connect(owner)
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from())["event"] == "hello"
    await asyncio.sleep(12)  # idle across two blocking-read timeouts
    assert await socket.receive_nothing(timeout=0.1)  # no close frame arrived while idle
    message = {"event": "component.updated", "model": "health.component", "id": row.pk, "data": {}}
    await database_sync_to_async(send_now)(groups_for_row(row), message)
    assert await socket.receive_json_from(timeout=2) == message
    await socket.disconnect()
