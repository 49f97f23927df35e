import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core314.settings")
# Django must be set up before the consumers (and the models they import) are imported.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 -- after get_asgi_application(), which sets Django up
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 -- after get_asgi_application(), which sets Django up
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402 -- after get_asgi_application(), which sets Django up

from core314.routing import websocket_urlpatterns  # noqa: E402 -- after get_asgi_application(), which sets Django up

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
