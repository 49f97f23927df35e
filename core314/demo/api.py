"""The demo's fault injection over the API (administrators only)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from core314.demo.faults import FAULT_KINDS
from core314.demo.services import fault_inject


class DemoFaultSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=FAULT_KINDS)
    ms = serializers.FloatField(required=False, min_value=1, max_value=30_000)
    rate = serializers.FloatField(required=False, min_value=0.01, max_value=1)


class DemoFaultViewSet(viewsets.ViewSet):
    """Inject a fault into the demo service (administrators only): the whole loop, shown on something real."""

    serializer_class = DemoFaultSerializer

    @extend_schema(request=DemoFaultSerializer, responses={202: OpenApiTypes.OBJECT})
    def create(self, request: Request) -> Response:
        body = DemoFaultSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        done = fault_inject(actor=request.user, **body.validated_data)
        return Response(done, status=status.HTTP_202_ACCEPTED)
