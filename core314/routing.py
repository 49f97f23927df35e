from django.urls import path

from core314.consumers import LiveConsumer

websocket_urlpatterns = [path("ws/live/", LiveConsumer.as_asgi(), name="ws-live")]
