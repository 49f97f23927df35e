"""Actuator configuration, validated per kind. Pure Python.

* ``cache``: ``{"url": "redis://host:6379/0"}`` (a Redis database) or ``{"django_cache": "default"}``.
* ``postgres``: ``{"dsn": "postgresql://user@host:5432/db"}`` — the server whose sessions can be reset.
* ``webhook``: ``{"url": "https://…", "secret": "…", "timeout_s": 5}`` — the operator's own endpoint.

Kinds that run commands (``process``) or steer workers (``celery``) are administrators' only, because a
command line is code execution on the platform's machine.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

ADMIN_ONLY_KINDS = {"process", "celery"}


class ActuatorConfigError(ValueError):
    pass


def _url(value: Any, field: str, schemes: set[str]) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in schemes or not urlsplit(value).netloc:
        raise ActuatorConfigError(f"{field} must be a {' or '.join(sorted(schemes))} URL")
    return value


def clean_config(kind: str, config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ActuatorConfigError("config must be a JSON object")
    if kind == "cache":
        if "url" in config:
            return {"url": _url(config["url"], "url", {"redis", "rediss"})}
        if isinstance(config.get("django_cache"), str):
            return {"django_cache": config["django_cache"]}
        raise ActuatorConfigError("a cache actuator needs url (redis://…) or django_cache (a CACHES alias)")
    if kind == "postgres":
        return {"dsn": _url(config.get("dsn"), "dsn", {"postgresql", "postgres"})}
    if kind == "webhook":
        secret = config.get("secret", "")
        timeout = config.get("timeout_s", 5)
        if not isinstance(secret, str) or len(secret) < 16:
            raise ActuatorConfigError("secret must be at least 16 characters (it signs every request)")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
            raise ActuatorConfigError("timeout_s must be a number of seconds, at most 60")
        return {"url": _url(config.get("url"), "url", {"http", "https"}), "secret": secret, "timeout_s": timeout}
    if kind in ADMIN_ONLY_KINDS:
        raise ActuatorConfigError(f"{kind} actuators are not available yet")
    raise ActuatorConfigError(f"unknown actuator kind {kind!r}")


def redacted(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The config as shown back to people: secrets and passwords removed."""
    from core314.redact import redact

    shown = {k: redact(str(v), limit=300) if isinstance(v, str) else v for k, v in config.items()}
    if "secret" in shown:
        shown["secret"] = "•" * 8
    return shown
