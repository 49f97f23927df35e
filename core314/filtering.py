"""One filter definition per list, for its page and its API endpoint.

A list's ``FilterSet`` (in ``<app>/filters.py``) is the API's ``filterset_class`` (strict: a bad value is a 400
naming the parameter) and the page's filter (lenient: a bad value is ignored, as an old link should still open).
The page's filter bar is drawn from the same definition, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar, cast

import django_filters
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from core314.params import RANGE_CHOICES, RANGES
from core314.tenancy import Actor


class SinceFilter(django_filters.ChoiceFilter):
    """``?range=15m|1h|6h|24h|7d``: rows whose ``field_name`` is within that span of now."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", RANGE_CHOICES)
        kwargs.setdefault("label", "Since")
        kwargs.setdefault("help_text", "Only rows from this long ago to now.")
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet[Any], value: str) -> QuerySet[Any]:
        if not value:
            return qs
        span: timedelta = RANGES[value]
        return qs.filter(**{f"{self.field_name}__gte": timezone.now() - span})


def scoped_choices(selector: Callable[..., QuerySet[Any]]) -> QuerySet[Any]:
    """The queryset of a related-row filter, scoped to the caller: another tenant's id is not a valid choice
    (the same answer as an id that does not exist)."""

    def queryset(request: Any) -> QuerySet[Any]:
        actor: Actor = getattr(request, "user", None)
        return selector(actor=actor)

    # django-filter calls a callable ``queryset`` with the request (documented: QuerySetRequestMixin), but its
    # stubs accept only a QuerySet for ``ModelChoiceFilter(queryset=...)``: typed as the queryset it yields.
    return cast("QuerySet[Any]", queryset)


F = TypeVar("F", bound=django_filters.FilterSet)


def filter_page(
    filterset_class: type[F],
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    defaults: Mapping[str, str] | None = None,
) -> F:
    """The page's side of a list's filter: the query string over ``defaults``; invalid values are dropped."""
    data: dict[str, Any] = dict(defaults or {})
    data.update({key: value for key, value in request.GET.items() if value != ""})
    filterset = filterset_class(data, queryset=queryset, request=request)
    filterset.is_valid()  # fills form.cleaned_data without the invalid fields; .qs then ignores them
    return filterset


def filter_bar(filterset: django_filters.FilterSet, names: list[str]) -> list[dict[str, Any]]:
    """The filter bar (``components/filter_bar.html``) for ``names``, drawn from the filterset's own fields."""
    cleaned = getattr(filterset.form, "cleaned_data", {})
    fields = []
    for name in names:
        field = filterset.form.fields[name]
        value = cleaned.get(name)
        if isinstance(value, Model):
            value = value.pk
        choices = [(str(k), v) for k, v in getattr(field, "choices", []) if k != ""]
        required_choice = isinstance(filterset.filters[name], SinceFilter)
        fields.append(
            {
                "name": name,
                "label": field.label or name.replace("_", " ").capitalize(),
                "choices": choices,
                "selected": "" if value in (None, "") else str(value),
                "all": not required_choice,
            }
        )
    return fields
