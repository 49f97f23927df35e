"""API throttles: per token (``CORE314_API_RATE``) and per user (``CORE314_API_USER_RATE``: a person's
sessions and everything their service accounts send, together).

Fixed windows counted with one Redis ``INCR`` per request (DRF's own throttles rewrite a list of every
request's time in the cache, which costs more the higher the rate). Past the rate: 429 with a JSON message and
``Retry-After``. When Redis cannot be reached the request is let through: a throttle must not take the API
down with it.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from core314.models import ApiToken
from core314.redis import get_redis, key
from core314.tenancy import effective_owner_id

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400,
           "day": 86400}  # fmt: skip
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"6000/min"`` → (6000, 60); empty or ``"0"`` → None (not throttled). ValueError for a bad rate."""
    if not rate or rate.strip() in {"0", "off", "none"}:
        return None
    match = _RATE.match(rate.lower())
    if not match or match.group(2) not in PERIODS:
        raise ValueError(f"{rate!r} is not a rate: write N/s, N/min, N/hour or N/day")
    return int(match.group(1)), PERIODS[match.group(2)]


class _WindowThrottle(BaseThrottle):
    scope = ""
    setting = ""

    def __init__(self) -> None:
        self._wait: float | None = None

    def ident(self, request: Request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        rate = parse_rate(getattr(settings, self.setting, None))
        ident = self.ident(request) if rate else None
        if rate is None or ident is None:
            return True
        limit, period = rate
        now = time.time()
        window = int(now // period)
        name = key("throttle", self.scope, ident, str(window))
        try:
            pipe = get_redis().pipeline(transaction=False)
            pipe.incr(name)
            pipe.expire(name, period + 1)
            count = int(pipe.execute()[0])
        except Exception:
            logger.warning("throttle %s not checked: Redis unreachable", self.scope, exc_info=True)
            return True
        if count > limit:
            self._wait = max(1.0, (window + 1) * period - now)
            return False
        return True

    def wait(self) -> float | None:
        return self._wait


class TokenRateThrottle(_WindowThrottle):
    """Each API token on its own budget."""

    scope = "token"
    setting = "CORE314_API_RATE"

    def ident(self, request: Request) -> str | None:
        return str(request.auth.pk) if isinstance(request.auth, ApiToken) else None


class UserRateThrottle(_WindowThrottle):
    """Each user's budget: a person's sessions and their service accounts' tokens together."""

    scope = "user"
    setting = "CORE314_API_USER_RATE"

    def ident(self, request: Request) -> str | None:
        owner_id = effective_owner_id(request.user)
        return str(owner_id) if owner_id is not None else None
