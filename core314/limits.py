"""Request body limits, per endpoint, answered with a JSON 413 before anything parses the body.

``CORE314_MAX_BODY`` (256 KiB) bounds every request; ``CORE314_BODY_LIMITS`` gives larger bounds to the bulk
ingest endpoints (sized for their documented item limits) and the alert receivers. Enforced twice, by the
same rule: in the ASGI application as the body arrives (a declared ``Content-Length`` over the limit is
refused before the body is read; a chunked body is counted and refused once it passes the limit), and in a
Django middleware (the WSGI entry point and the test client).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def body_limit(path: str) -> int:
    """The most bytes a request body to ``path`` may have (the longest matching prefix of
    ``CORE314_BODY_LIMITS``, else ``CORE314_MAX_BODY``)."""
    best, limit = -1, int(settings.CORE314_MAX_BODY)
    for prefix, bound in settings.CORE314_BODY_LIMITS.items():
        if path.startswith(prefix) and len(prefix) > best:
            best, limit = len(prefix), int(bound)
    return limit


def too_large_detail(path: str, limit: int) -> str:
    return f"Request body too large: {path} accepts at most {limit} bytes."


class BodyLimitMiddleware:
    """A request whose declared length passes its endpoint's limit is answered 413 (JSON) unread."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = body_limit(request.path)
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Content-Length is not a number."}, status=400)
        if declared > limit:
            return JsonResponse({"detail": too_large_detail(request.path, limit)}, status=413)
        return self.get_response(request)


class _TooLarge(Exception):
    pass


class ASGIBodyLimit:
    """The same limit in the ASGI application, as the body arrives (before Django buffers it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = body_limit(path)
        declared = next((v for k, v in scope.get("headers", []) if k.lower() == b"content-length"), None)
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _refuse(send, path, limit)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:  # Django reads the whole body before it answers: nothing was sent yet
                await _refuse(send, path, limit)


async def _refuse(send: Send, path: str, limit: int) -> None:
    body = json.dumps({"detail": too_large_detail(path, limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
