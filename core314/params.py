"""Query parameters shared by pages and the API: the time ranges, and one parser for each kind of value.

Pages are forgiving (an unknown value falls back to the default, as a filter bar left in an old state
should still render); the API is strict (``strict=True``: a 400 naming the parameter and what it accepts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta

from core314.services import DomainError

RANGES: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
RANGE_CHOICES: list[tuple[str, str]] = [(key, f"last {key}") for key in RANGES]


def parse_choice(
    params: Mapping[str, str], name: str, choices: Iterable[str], *, default: str = "", strict: bool = False
) -> str:
    """``params[name]`` when it is one of ``choices``; else ``default`` (or a DomainError when strict)."""
    allowed = list(choices)
    value = params.get(name)
    if value is None or value == "":
        return default
    if value in allowed:
        return value
    if strict:
        raise DomainError(f"{name} must be one of {', '.join(allowed)}.")
    return default


def parse_range(params: Mapping[str, str], *, default: str, name: str = "range", strict: bool = False) -> timedelta:
    """The time span named by ``?range=`` (15m, 1h, 6h, 24h, 7d)."""
    return RANGES[parse_choice(params, name, RANGES, default=default, strict=strict)]


def parse_id(params: Mapping[str, str], name: str) -> int | None:
    """A positive integer id, or None when absent or not a number (pages ignore a malformed id)."""
    value = params.get(name, "")
    return int(value) if value.isdigit() and len(value) <= 18 else None
