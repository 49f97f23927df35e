from __future__ import annotations

from typing import TYPE_CHECKING

from django.urls import path

from core314.consumers import LiveConsumer

if TYPE_CHECKING:
    from channels.routing import URLRouter, _ExtendedURLPattern

# Channels routes consumers with Django's path() (its documented routing); django-stubs types path() for HTTP
# views only, and the channels stubs want their own pattern type for URLRouter.
websocket_urlpatterns: list[_ExtendedURLPattern | URLRouter] = [
    path("ws/live/", LiveConsumer.as_asgi(), name="ws-live"),  # type: ignore[arg-type,list-item]  # ASGI app
]
