from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core314.api import OwnedReadOnlyViewSet
from core314.pagination import KeysetPagination
from selftest import filters, selectors, services
from selftest.models import SelfTestResult, SelfTestRun
from selftest.registry import CATEGORIES


class SelfTestRunSerializer(serializers.ModelSerializer[SelfTestRun]):
    class Meta:
        model = SelfTestRun
        fields = "__all__"
        read_only_fields = [f.name for f in SelfTestRun._meta.concrete_fields]


class SelfTestResultSerializer(serializers.ModelSerializer[SelfTestResult]):
    class Meta:
        model = SelfTestResult
        fields = "__all__"
        read_only_fields = [f.name for f in SelfTestResult._meta.concrete_fields]


class RunPagination(KeysetPagination):
    ordering = ("-started_at", "-id")


class TriggerSerializer(serializers.Serializer[Any]):
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=CATEGORIES), required=False, default=list, max_length=len(CATEGORIES)
    )


class SelfTestRunViewSet(OwnedReadOnlyViewSet[SelfTestRun]):
    """Runs of the self-test suite. ``trigger/`` starts one now (a worker runs it; results arrive live)."""

    queryset = SelfTestRun.objects.all()
    selector = staticmethod(selectors.run_list)
    serializer_class = SelfTestRunSerializer
    pagination_class = RunPagination
    filterset_class = filters.RunFilter
    ordering_fields = ["started_at"]

    @extend_schema(request=TriggerSerializer, responses={202: SelfTestRunSerializer})
    @action(detail=False, methods=["post"])
    def trigger(self, request: Request) -> Response:
        body = TriggerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = services.run_now(actor=request.user, categories=body.validated_data["categories"])
        return Response(SelfTestRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"])
    def summary(self, request: Request) -> Response:
        """The latest run: status, health score, counts by result and category, regressions, dead man's switch."""
        return Response(selectors.summary(actor=request.user))


class SelfTestResultViewSet(OwnedReadOnlyViewSet[SelfTestResult]):
    queryset = SelfTestResult.objects.all()
    selector = staticmethod(selectors.result_list)
    serializer_class = SelfTestResultSerializer
    filterset_class = filters.ResultFilter
    ordering_fields = ["created_at"]
