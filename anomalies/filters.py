"""Filters of the anomaly lists, shared by the Anomaly Console and the API."""

from __future__ import annotations

import django_filters

from anomalies.models import (
    AnomalyKind,
    AnomalySignal,
    DetectionSettings,
    Feedback,
    Incident,
    Severity,
    SignalStatus,
    Silence,
)
from core314.filtering import SinceFilter, scoped_choices
from health.selectors import component_list


class SignalFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SignalStatus.choices, label="Status")
    severity = django_filters.ChoiceFilter(choices=Severity.choices, label="Severity")
    kind = django_filters.ChoiceFilter(choices=AnomalyKind.choices, label="Kind")
    component = django_filters.ModelChoiceFilter(queryset=scoped_choices(component_list), label="Component")
    range = SinceFilter(field_name="last_seen_at")

    class Meta:
        model = AnomalySignal
        fields = {
            "metric": ["exact"],
            "severity": ["in"],
            "status": ["in"],
            "silenced": ["exact"],
            "last_seen_at": ["gte", "lt"],
        }


class IncidentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SignalStatus.choices, label="Status")
    severity = django_filters.ChoiceFilter(choices=Severity.choices, label="Severity")
    component = django_filters.ModelChoiceFilter(queryset=scoped_choices(component_list), label="Component")
    feedback = django_filters.ChoiceFilter(choices=Feedback.choices, label="Marked")
    range = SinceFilter(field_name="last_seen_at")

    class Meta:
        model = Incident
        fields = {"status": ["in"], "last_seen_at": ["gte", "lt"]}


class SilenceFilter(django_filters.FilterSet):
    component = django_filters.ModelChoiceFilter(queryset=scoped_choices(component_list), label="Component")

    class Meta:
        model = Silence
        fields = ["kind"]


class DetectionSettingsFilter(django_filters.FilterSet):
    component = django_filters.ModelChoiceFilter(queryset=scoped_choices(component_list), label="Component")

    class Meta:
        model = DetectionSettings
        fields = ["enabled"]
