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
