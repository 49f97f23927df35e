"""Circuit breakers: their state, a cheap read for clients, opening and closing by hand."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from core314.api import OwnedReadOnlyViewSet
from core314.services import DomainError
from core314.tenancy import get_visible_or_404
from health.models import Component
from recovery import filters, selectors, services
from recovery.models import (
    CircuitBreaker,
)


class CircuitBreakerSerializer(serializers.ModelSerializer[CircuitBreaker]):
    component_name = serializers.CharField(source="component.name", read_only=True)
    effective_state = serializers.SerializerMethodField()

    class Meta:
        model = CircuitBreaker
        fields = [
            "id", "owner", "component", "component_name", "state", "effective_state", "reason", "opened_at",
            "half_open_at", "cooldown_s", "base_cooldown_s", "max_cooldown_s", "trial_successes", "trial_passed",
            "times_opened", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_effective_state(self, obj: CircuitBreaker) -> str:
        return obj.effective_state(timezone.now())


class BreakerOpenSerializer(serializers.Serializer[Any]):
    component = serializers.IntegerField()
    reason = serializers.CharField(max_length=300)
    cooldown_s = serializers.IntegerField(required=False, min_value=1, max_value=86_400)


class BreakerReportSerializer(serializers.Serializer[Any]):
    ok = serializers.BooleanField()


class BreakerViewSerializer(serializers.Serializer[Any]):
    component_id = serializers.IntegerField()
    component = serializers.CharField()
    state = serializers.ChoiceField(choices=["closed", "open", "half_open"])
    allow = serializers.BooleanField()
    retry_after_s = serializers.FloatField(allow_null=True)


class CircuitBreakerViewSet(OwnedReadOnlyViewSet[CircuitBreaker]):
    """Circuit breakers, one per component. Clients read ``state/`` before calling."""

    queryset = CircuitBreaker.objects.all()
    selector = staticmethod(selectors.breaker_list)
    serializer_class = CircuitBreakerSerializer
    pagination_class = None
    filterset_class = filters.BreakerFilter

    @extend_schema(
        parameters=[OpenApiParameter("component", str, description="component id or name", required=True)],
        responses=BreakerViewSerializer,
    )
    @action(detail=False, methods=["get"])
    def state(self, request: Request) -> Response:
        """The cheap read for clients: may I call this component now? (one indexed lookup)"""
        ref = request.query_params.get("component", "").strip()
        if not ref:
            raise DomainError("Give ?component=<id or name>.")
        components = Component.objects.visible_to(request.user)
        component = components.filter(pk=int(ref)).first() if ref.isdigit() else components.filter(name=ref).first()
        if component is None:
            raise NotFound("No such component.")
        breaker = self.get_queryset().filter(component=component).first()
        view = services.breaker_view(breaker, component)
        response = Response(view.as_dict())
        response["Cache-Control"] = "private, max-age=1"
        return response

    @extend_schema(request=BreakerOpenSerializer, responses=CircuitBreakerSerializer)
    @action(detail=False, methods=["post"])
    def open(self, request: Request) -> Response:
        """Open the breaker of a component (created on first use): calls are refused for the cooldown."""
        body = BreakerOpenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        component = get_visible_or_404(Component, request.user, pk=data.pop("component"))
        breaker = services.breaker_open(actor=request.user, component=component, **data)
        return Response(CircuitBreakerSerializer(breaker).data)

    @extend_schema(request=None, responses=CircuitBreakerSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        breaker = self.get_object()
        breaker = services.breaker_close(actor=request.user, component=breaker.component, reason="closed by hand")
        return Response(CircuitBreakerSerializer(breaker).data)

    @extend_schema(request=BreakerReportSerializer, responses=CircuitBreakerSerializer)
    @action(detail=True, methods=["post"])
    def report(self, request: Request, pk: str | None = None) -> Response:
        """Report the result of a trial call made while half-open."""
        breaker = self.get_object()
        body = BreakerReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        recorded = services.breaker_record_trial(component_id=breaker.component_id, ok=body.validated_data["ok"])
        return Response(CircuitBreakerSerializer(recorded).data)
