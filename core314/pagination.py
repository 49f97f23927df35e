"""Keyset pagination, for pages (``keyset_page``: ``?after=<cursor>`` walks newest → oldest) and for the API
(cursor pages): constant cost however deep one pages, stable under inserts."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Model, Q, QuerySet
from rest_framework.pagination import CursorPagination


@dataclass
class KeysetPage:
    rows: list[Any]
    next_cursor: str | None
    is_first: bool


def _encode(value: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([value.isoformat(), pk]).encode()).decode()


def _decode(cursor: str) -> tuple[datetime, int] | None:
    try:
        raw, pk = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(raw), int(pk)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        return None


def keyset_page(queryset: QuerySet[Model], *, field: str, after: str | None, size: int = 25) -> KeysetPage:
    """Rows ordered by (field desc, id desc) after ``after``; an unreadable cursor starts from the top."""
    position = _decode(after) if after else None
    queryset = queryset.order_by(f"-{field}", "-id")
    if position is not None:
        value, pk = position
        queryset = queryset.filter(Q(**{f"{field}__lt": value}) | Q(**{field: value, "id__lt": pk}))
    rows = list(queryset[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = _encode(getattr(last, field), last.pk)
    return KeysetPage(rows=rows, next_cursor=next_cursor, is_first=position is None)


class KeysetPagination(CursorPagination):
    """Keyset (cursor) pages: constant cost however deep the client pages, stable under inserts."""

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 500


class DeployedAtPagination(KeysetPagination):
    ordering = ("-deployed_at", "-id")


class StartedAtPagination(KeysetPagination):
    ordering = ("-started_at", "-id")
