"""Typed helpers that read settings from the environment and fail loudly.

A variable ``NAME`` may also be given as ``NAME_FILE`` pointing at a file that holds the value, so that
secrets can come from a mounted file instead of the process environment.
"""

from __future__ import annotations

import os
from pathlib import Path


class ConfigError(RuntimeError):
    pass


_MISSING = object()


def env_str(name: str, default: str | object = _MISSING) -> str:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text().strip()
    value = os.environ.get(name)
    if value is None or value == "":
        if default is _MISSING:
            raise ConfigError(f"Environment variable {name} is required")
        return str(default)
    return value


def env_optional(name: str) -> str | None:
    value = env_str(name, "")
    return value or None


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name, "").lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = env_str(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = env_str(name, "")
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_str(name, "")
    if raw == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]
