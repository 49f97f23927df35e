"""One shared Redis client per process for the platform's own keys (heartbeats, metrics)."""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def key(*parts: str) -> str:
    return ":".join([settings.REDIS_PREFIX, *parts])


def text(value: bytes | str) -> str:
    """A hash field or value as text: the client returns bytes (redis-py types it as either)."""
    return value.decode() if isinstance(value, bytes) else value
