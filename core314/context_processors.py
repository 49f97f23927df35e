from typing import Any

from django.conf import settings
from django.http import HttpRequest


def platform(request: HttpRequest) -> dict[str, Any]:
    return {
        "CORE314_VERSION": settings.CORE314_VERSION,
        "CORE314_ENVIRONMENT": settings.CORE314_ENVIRONMENT,
    }
