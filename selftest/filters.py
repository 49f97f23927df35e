"""Filters of the self-test lists, shared by the Self-Test Panel and the API."""

from __future__ import annotations

import django_filters

from core314.filtering import scoped_choices
from selftest import selectors
from selftest.models import CheckResult, SelfTestResult, SelfTestRun
from selftest.registry import CATEGORIES


class RunFilter(django_filters.FilterSet):
    class Meta:
        model = SelfTestRun
        fields = ["status", "trigger"]


class ResultFilter(django_filters.FilterSet):
    category = django_filters.ChoiceFilter(choices=[(c, c.replace("_", " ")) for c in CATEGORIES], label="Category")
    result = django_filters.ChoiceFilter(choices=CheckResult.choices, label="Result")
    run = django_filters.ModelChoiceFilter(queryset=scoped_choices(selectors.run_list), label="Run")

    class Meta:
        model = SelfTestResult
        fields = ["check_name", "regression", "improvement"]
