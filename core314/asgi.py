import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core314.settings")
# Django must be set up before the consumers (and the models they import) are imported.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 -- after get_asgi_application(), which sets Django up
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 -- after get_asgi_application(), which sets Django up
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402 -- after get_asgi_application(), which sets Django up

from core314.limits import ASGIBodyLimit  # noqa: E402 -- after get_asgi_application(), which sets Django up
from core314.routing import websocket_urlpatterns  # noqa: E402 -- after get_asgi_application(), which sets Django up

application = ProtocolTypeRouter(
    {
        # Bodies over their endpoint's limit are refused as they arrive (JSON 413). Django serves each request's
        # sync code in a thread of its own (its ThreadSensitiveContext), so a slow request holds up no other.
        "http": ASGIBodyLimit(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
