"""The request type of page views: what django-htmx's middleware adds to every request, for type checkers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """``request.htmx`` is set on every request by ``HtmxMiddleware`` (django-htmx's documented typing)."""

    htmx: HtmxDetails
