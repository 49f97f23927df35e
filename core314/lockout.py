"""Sign-in lockout: after ``CORE314_LOGIN_MAX_FAILURES`` failed sign-ins for one username from one address,
that pair is refused for ``CORE314_LOGIN_LOCKOUT`` seconds (the count starts over after a success, or once
the lock expires). Counted in Redis, so every server process sees the same count.

Failures are counted from Django's ``user_login_failed`` signal (every sign-in path: the login page, the
admin's); the forms of both pages check the lock before they authenticate and say so; the authentication
backend refuses a locked pair as well, whatever calls it. Without Redis, sign-in works unguarded (logged).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from core314.redis import get_redis, key

logger = logging.getLogger(__name__)


def _address(request: HttpRequest | None) -> str:
    return str(request.META.get("REMOTE_ADDR", "")) if request is not None else ""


def _name(username: str, address: str) -> str:
    digest = hashlib.sha256(f"{username.strip().lower()}|{address}".encode()).hexdigest()[:32]
    return key("login-failures", digest)


def locked_for(username: str, request: HttpRequest | None) -> int:
    """Seconds left of the lockout of (username, the request's address); 0 when sign-in may be tried."""
    name = _name(username, _address(request))
    try:
        client = get_redis()
        failures = int(client.get(name) or 0)
        if failures < settings.CORE314_LOGIN_MAX_FAILURES:
            return 0
        return max(1, int(client.ttl(name)))
    except Exception:
        logger.warning("sign-in lockout not checked: Redis unreachable", exc_info=True)
        return 0


def failure_record(username: str, request: HttpRequest | None) -> None:
    name = _name(username, _address(request))
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.incr(name)
        pipe.expire(name, settings.CORE314_LOGIN_LOCKOUT)
        pipe.execute()
    except Exception:
        logger.warning("failed sign-in not counted: Redis unreachable", exc_info=True)


def failures_clear(username: str, request: HttpRequest | None) -> None:
    try:
        get_redis().delete(_name(username, _address(request)))
    except Exception:
        logger.warning("sign-in failures not cleared: Redis unreachable", exc_info=True)


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = credentials.get("username")
    if isinstance(username, str) and username:
        failure_record(username, request)


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    failures_clear(user.get_username(), request)


def lockout_message(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return (
        f"Too many failed sign-ins for this account from your address: try again in {minutes} minute"
        f"{'' if minutes == 1 else 's'}."
    )


class _LockoutCheck:
    """Refuse a locked (username, address) pair before any password is checked."""

    request: HttpRequest | None
    cleaned_data: dict[str, Any]
    locked_seconds = 0

    def _check_lock(self) -> None:
        username = self.cleaned_data.get("username")
        if username:
            self.locked_seconds = locked_for(str(username), self.request)
            if self.locked_seconds:
                raise forms.ValidationError(lockout_message(self.locked_seconds), code="locked_out")


class LockoutAuthenticationForm(_LockoutCheck, AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        self._check_lock()
        return super().clean()


class LockoutAdminAuthenticationForm(_LockoutCheck, AdminAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        self._check_lock()
        return super().clean()


class LockoutModelBackend(ModelBackend):
    """ModelBackend that refuses a locked pair whatever asks (another form, a script calling authenticate)."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if username and locked_for(username, request):
            raise PermissionDenied("locked out")
        return super().authenticate(request, username=username, password=password, **kwargs)
