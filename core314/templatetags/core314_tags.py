from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def changes(value: Any) -> str:
    """Render an audit before/after summary as ``key=value, …`` for a table cell."""
    if not value:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items())
    return str(value)


@register.filter
def pct(value: Any, digits: int = 1) -> str:
    """A fraction in 0..1 as a percentage (``0.1234`` → ``12.3 %``); empty values as an en dash."""
    if value is None or value == "":
        return "\u2013"
    return f"{float(value) * 100:.{digits}f} %"


@register.filter
def ms(value: Any) -> str:
    if value is None or value == "":
        return "\u2013"
    value = float(value)
    return f"{value / 1000:.2f} s" if value >= 10_000 else f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


@register.filter
def duration(value: Any) -> str:
    """Seconds as ``42 s``, ``3 m 20 s`` or ``2 h 05 m``; empty values as an en dash."""
    if value is None or value == "":
        return "\u2013"
    seconds = round(float(value))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} m {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} m"


@register.filter
def words(value: Any) -> str:
    """A code as words (``cooling_down`` → ``cooling down``)."""
    return str(value or "").replace("_", " ")
