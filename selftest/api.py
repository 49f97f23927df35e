from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from core314.api import OwnedReadOnlyViewSet
from core314.pagination import KeysetPagination
from selftest.models import SelfTestResult, SelfTestRun


class SelfTestRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SelfTestRun
        fields = "__all__"
        read_only_fields = [f.name for f in SelfTestRun._meta.concrete_fields]


class SelfTestResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = SelfTestResult
        fields = "__all__"
        read_only_fields = [f.name for f in SelfTestResult._meta.concrete_fields]


class RunPagination(KeysetPagination):
    ordering = ("-started_at", "-id")


class SelfTestRunViewSet(OwnedReadOnlyViewSet):
    queryset = SelfTestRun.objects.all()
    serializer_class = SelfTestRunSerializer
    pagination_class = RunPagination
    filterset_fields = ["status", "trigger"]
    ordering_fields = ["started_at"]


class SelfTestResultViewSet(OwnedReadOnlyViewSet):
    queryset = SelfTestResult.objects.all()
    serializer_class = SelfTestResultSerializer
    filterset_fields = ["run", "check_name", "category", "result", "regression", "improvement"]
    ordering_fields = ["created_at"]

    def refine(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("run")
