"""Filters of the recovery lists, shared by the Recovery Manager and the API."""

from __future__ import annotations

import django_filters

from anomalies.selectors import signal_list
from core314.filtering import SinceFilter, scoped_choices
from health.selectors import component_list
from recovery.models import (
    ActionStatus,
    ActionType,
    Actuator,
    Backoff,
    CircuitBreaker,
    Demotion,
    Deployment,
    EscalationTarget,
    HealingDecision,
    RecoveryAction,
    RecoveryPolicy,
    ScaleOut,
)


def _component() -> django_filters.ModelChoiceFilter:
    return django_filters.ModelChoiceFilter(queryset=scoped_choices(component_list), label="Component")


class ActionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ActionStatus.choices, label="Status")
    action_type = django_filters.ChoiceFilter(choices=ActionType.choices, label="Action")
    component = _component()
    signal = django_filters.ModelChoiceFilter(queryset=scoped_choices(signal_list), label="Signal")
    range = SinceFilter(field_name="created_at")

    class Meta:
        model = RecoveryAction
        fields = {"status": ["in"], "verdict": ["exact"], "created_at": ["gte", "lt"]}


class PolicyFilter(django_filters.FilterSet):
    component = _component()

    class Meta:
        model = RecoveryPolicy
        fields = ["enabled", "action_type", "mode"]


class DecisionFilter(django_filters.FilterSet):
    component = _component()
    signal = django_filters.ModelChoiceFilter(queryset=scoped_choices(signal_list), label="Signal")

    class Meta:
        model = HealingDecision
        fields = ["outcome"]


class BackoffFilter(django_filters.FilterSet):
    component = _component()

    class Meta:
        model = Backoff
        fields = ["action_type"]


class DeploymentFilter(django_filters.FilterSet):
    component = _component()

    class Meta:
        model = Deployment
        fields = ["version", "known_good"]


class BreakerFilter(django_filters.FilterSet):
    component = _component()

    class Meta:
        model = CircuitBreaker
        fields = ["state"]


class EscalationTargetFilter(django_filters.FilterSet):
    component = _component()

    class Meta:
        model = EscalationTarget
        fields: list[str] = []


class ActuatorFilter(django_filters.FilterSet):
    component = _component()

    class Meta:
        model = Actuator
        fields = ["kind", "enabled"]


class DemotionFilter(django_filters.FilterSet):
    component = _component()
    active = django_filters.BooleanFilter(field_name="cleared_at", lookup_expr="isnull", label="Still demoted")
    action_type = django_filters.ChoiceFilter(choices=ActionType.choices, label="Action")

    class Meta:
        model = Demotion
        fields: list[str] = []


class ScaleOutFilter(django_filters.FilterSet):
    component = _component()
    active = django_filters.BooleanFilter(field_name="ended_at", lookup_expr="isnull", label="Not yet scaled in")

    class Meta:
        model = ScaleOut
        fields: list[str] = []
