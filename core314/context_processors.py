from typing import Any

from django.conf import settings
from django.http import HttpRequest


def platform(request: HttpRequest) -> dict[str, Any]:
    context: dict[str, Any] = {
        "CORE314_VERSION": settings.CORE314_VERSION,
        "CORE314_ENVIRONMENT": settings.CORE314_ENVIRONMENT,
    }
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and not getattr(request, "htmx", False):
        # The dead man's switch, on every page: a monitor whose self-tests stopped must say so (one small query).
        from selftest.selectors import deadman

        state = deadman()
        if not state["ok"]:
            context["SELFTEST_DEADMAN"] = state["detail"]
    return context
