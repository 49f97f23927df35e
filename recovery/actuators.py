"""Actuator configuration, validated per kind. Pure Python.

* ``cache``: ``{"url": "redis://host:6379/0"}`` (a Redis database) or ``{"django_cache": "default"}``.
* ``postgres``: ``{"dsn": "postgresql://user@host:5432/db"}`` — the server whose sessions can be reset.
* ``webhook``: ``{"url": "https://…", "secret": "…", "timeout_s": 5}`` — the operator's own endpoint.
* ``process``: ``{"versions": {"v1": {"argv": ["python", "app.py", "--port", "{port}"], "env": {}, "cwd": ""}},
  "version": "v1", "replicas": 1, "max_replicas": 8, "stop_timeout_s": 5, "port_base": 9100}`` — a local
  process the platform supervises; ``{replica}``/``{port}`` are filled in per replica.
* ``celery``: ``{"destinations": ["celery@host"]}`` (empty: every worker) — the platform's own workers.

Kinds that run commands (``process``) or steer workers (``celery``) are administrators' only, because a
command line is code execution on the platform's machine.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

ADMIN_ONLY_KINDS = {"process", "celery"}
# Where each kind connects: the config field and the egress guard's kind for it (core314.egress).
EGRESS_FIELDS = {"cache": ("url", "redis"), "postgres": ("dsn", "postgres"), "webhook": ("url", "http")}


class ActuatorConfigError(ValueError):
    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field  # the config key at fault, when there is one


def _url(value: Any, field: str, egress_kind: str) -> str:
    """A URL of the schemes the egress guard allows for ``egress_kind``, with one plain host."""
    from core314.egress import SCHEMES, EgressRefused, parse_target

    schemes = SCHEMES[egress_kind]
    if not isinstance(value, str) or urlsplit(value).scheme not in schemes or not urlsplit(value).netloc:
        raise ActuatorConfigError(f"must be a {' or '.join(sorted(schemes))} URL", field)
    try:
        parse_target(egress_kind, value)
    except EgressRefused as exc:
        raise ActuatorConfigError(str(exc), field) from None
    return value


def egress_target(kind: str, config: dict[str, Any]) -> tuple[str, str, str] | None:
    """(config field, egress kind, target) of an actuator that connects somewhere; None for one that does not
    (process, celery, a Django cache alias)."""
    field_and_kind = EGRESS_FIELDS.get(kind)
    if field_and_kind is None or not isinstance(config.get(field_and_kind[0]), str):
        return None
    return field_and_kind[0], field_and_kind[1], config[field_and_kind[0]]


def clean_config(kind: str, config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ActuatorConfigError("config must be a JSON object")
    if kind == "cache":
        if "url" in config:
            return {"url": _url(config["url"], "url", "redis")}
        if isinstance(config.get("django_cache"), str):
            return {"django_cache": config["django_cache"]}
        raise ActuatorConfigError("a cache actuator needs url (redis://…) or django_cache (a CACHES alias)")
    if kind == "postgres":
        return {"dsn": _url(config.get("dsn"), "dsn", "postgres")}
    if kind == "webhook":
        secret = config.get("secret", "")
        timeout = config.get("timeout_s", 5)
        if not isinstance(secret, str) or len(secret) < 16:
            raise ActuatorConfigError("secret must be at least 16 characters (it signs every request)")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
            raise ActuatorConfigError("timeout_s must be a number of seconds, at most 60")
        return {"url": _url(config.get("url"), "url", "http"), "secret": secret, "timeout_s": timeout}
    if kind == "process":
        return _process(config)
    if kind == "celery":
        destinations = config.get("destinations", [])
        if not isinstance(destinations, list) or not all(isinstance(d, str) and d for d in destinations):
            raise ActuatorConfigError("destinations must be a list of worker names (celery@host)")
        return {"destinations": destinations}
    raise ActuatorConfigError(f"unknown actuator kind {kind!r}")


SECRET_SHOWN = "•" * 8
SECRET_KEYS = {"secret", "password", "token", "api_key", "key"}


def _shown(value: Any, key: str = "") -> Any:
    from core314.redact import SECRET_NAME, redact

    if (key.lower() in SECRET_KEYS or SECRET_NAME.search(key)) and value:
        return SECRET_SHOWN
    if isinstance(value, str):
        return redact(value, limit=300)
    if isinstance(value, dict):
        return {k: _shown(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def spec_shown(spec: Any) -> Any:
    """A deployment's recorded spec (a process version: argv, env, cwd) as shown to people."""
    return _shown(spec)


def redacted(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The config as shown back to people: secrets, passwords, tokens and addresses removed, at any depth
    (a process's environment included)."""
    shown: dict[str, Any] = _shown(config)
    return shown


def keep_secrets(stored: Any, submitted: Any) -> Any:
    """A config edited from its redacted form: whatever was left exactly as shown keeps the stored value, so a
    person can change a timeout without knowing (or retyping) the secret beside it."""
    if submitted == _shown(stored):
        return stored
    if isinstance(stored, dict) and isinstance(submitted, dict):
        return {
            k: (stored[k] if k in stored and v == _shown(stored[k], str(k)) else keep_secrets(stored.get(k), v))
            for k, v in submitted.items()
        }
    if isinstance(stored, list) and isinstance(submitted, list) and len(stored) == len(submitted):
        return [keep_secrets(a, b) for a, b in zip(stored, submitted, strict=True)]
    return submitted


def _int(config: dict[str, Any], field: str, default: int, low: int, high: int) -> int:
    value: object = config.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ActuatorConfigError(f"{field} must be a whole number from {low} to {high}")
    return value


def _process(config: dict[str, Any]) -> dict[str, Any]:
    versions = config.get("versions")
    if not isinstance(versions, dict) or not versions:
        raise ActuatorConfigError('versions must map a version name to {"argv": [...]}')
    cleaned_versions = {}
    for name, spec in versions.items():
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise ActuatorConfigError("version names are strings of at most 64 characters")
        if not isinstance(spec, dict):
            raise ActuatorConfigError(f"version {name!r} must be an object with argv")
        argv = spec.get("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
            raise ActuatorConfigError(f"version {name!r}: argv must be a non-empty list of strings (no shell)")
        env = spec.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ActuatorConfigError(f"version {name!r}: env must map names to strings")
        cwd = spec.get("cwd", "")
        if not isinstance(cwd, str):
            raise ActuatorConfigError(f"version {name!r}: cwd must be a path")
        cleaned_versions[name] = {"argv": argv, "env": env, "cwd": cwd}
    version = config.get("version", next(iter(cleaned_versions)))
    if version not in cleaned_versions:
        raise ActuatorConfigError(f"version {version!r} is not one of the configured versions")
    max_replicas = _int(config, "max_replicas", 8, 1, 64)
    cleaned = {
        "versions": cleaned_versions,
        "version": version,
        "replicas": _int(config, "replicas", 1, 0, max_replicas),
        "max_replicas": max_replicas,
        # Scaling back in after the healer scaled out never goes below this.
        "min_replicas": _int(config, "min_replicas", 1, 1, max_replicas),
        "stop_timeout_s": _int(config, "stop_timeout_s", 5, 1, 120),
    }
    if config.get("port_base") is not None:
        cleaned["port_base"] = _int(config, "port_base", 0, 1024, 65_000)
    unavailable = config.get("max_unavailable", "25%")
    if isinstance(unavailable, str) and unavailable.endswith("%") and unavailable[:-1].isdigit():
        if not 1 <= int(unavailable[:-1]) <= 100:
            raise ActuatorConfigError("max_unavailable as a share must be 1% to 100%")
    elif isinstance(unavailable, bool) or not isinstance(unavailable, int) or not 1 <= unavailable <= 64:
        raise ActuatorConfigError('max_unavailable must be a number of replicas (1..64) or a share like "25%"')
    cleaned["max_unavailable"] = unavailable
    if config.get("ready_url"):
        ready = config["ready_url"]
        if not isinstance(ready, str) or urlsplit(
            ready.replace("{port}", "1").replace("{replica}", "0")
        ).scheme not in {
            "http",
            "https",
        }:
            raise ActuatorConfigError("ready_url must be an http(s) URL ({port} and {replica} are filled in)")
        cleaned["ready_url"] = ready
    cleaned["ready_timeout_s"] = _int(config, "ready_timeout_s", 10, 1, 120)
    return cleaned
