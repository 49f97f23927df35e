"""Filters of health's lists, shared by their pages and their API endpoints."""

from __future__ import annotations

import django_filters

from core314.filtering import SinceFilter, scoped_choices
from health import selectors
from health.models import (
    Component,
    ComponentStatus,
    ComponentType,
    EventSource,
    ExecutionRecord,
    HealthStatus,
    Probe,
    SystemHealthEvent,
)


class ComponentFilter(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(choices=ComponentType.choices, label="Type")
    status = django_filters.ChoiceFilter(choices=ComponentStatus.choices, label="Status")

    class Meta:
        model = Component
        fields = ["type", "environment", "is_platform", "status"]


class HealthEventFilter(django_filters.FilterSet):
    component = django_filters.ModelChoiceFilter(queryset=scoped_choices(selectors.component_list), label="Component")
    type = django_filters.ChoiceFilter(field_name="component__type", choices=ComponentType.choices, label="Type")
    status = django_filters.ChoiceFilter(choices=HealthStatus.choices, label="Status")
    source = django_filters.ChoiceFilter(choices=EventSource.choices, label="Source")
    range = SinceFilter(field_name="window_start", label="Range")

    class Meta:
        model = SystemHealthEvent
        fields = {"status": ["in"], "window_start": ["gte", "lt"]}


class ExecutionRecordFilter(django_filters.FilterSet):
    component = django_filters.ModelChoiceFilter(queryset=scoped_choices(selectors.component_list), label="Component")

    class Meta:
        model = ExecutionRecord
        fields = {"ok": ["exact"], "source": ["exact"], "started_at": ["gte", "lt"]}


class ProbeFilter(django_filters.FilterSet):
    component = django_filters.ModelChoiceFilter(queryset=scoped_choices(selectors.component_list), label="Component")

    class Meta:
        model = Probe
        fields = ["kind", "enabled"]
