"""Recovery actions (list, run by hand, dry run, approve/reject/cancel, statistics), the healing decisions
and backoffs behind them, and the pause switch."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from anomalies.models import AnomalySignal
from core314.api import OwnedReadOnlyViewSet, OwnedViewSetMixin
from core314.params import parse_range
from core314.tenancy import get_visible_or_404
from health.models import Component
from recovery import filters, selectors, services
from recovery.models import (
    ActionType,
    Backoff,
    HealingDecision,
    RecoveryAction,
)


class RecoveryActionSerializer(serializers.ModelSerializer[RecoveryAction]):
    component_name = serializers.CharField(source="component.name", read_only=True)
    policy_name = serializers.CharField(source="policy.name", read_only=True, default=None)

    class Meta:
        model = RecoveryAction
        exclude = ["claimed_by"]
        read_only_fields = [f.name for f in RecoveryAction._meta.fields if f.name != "claimed_by"]


class ManualActionSerializer(serializers.Serializer[Any]):
    component = serializers.IntegerField()
    action_type = serializers.ChoiceField(choices=ActionType.choices)
    parameters = serializers.JSONField(required=False, default=dict)
    reason = serializers.CharField(max_length=1000)
    signal = serializers.IntegerField(required=False, allow_null=True, default=None)
    dry_run = serializers.BooleanField(required=False, default=False)


class DryRunSerializer(serializers.Serializer[Any]):
    component = serializers.IntegerField()
    action_type = serializers.ChoiceField(choices=ActionType.choices)
    parameters = serializers.JSONField(required=False, default=dict)


class ActionReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class RecoveryActionViewSet(
    OwnedViewSetMixin[RecoveryAction], mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[RecoveryAction]
):
    """Recovery actions. POST asks for one by hand (``dry_run`` records only its plan); approve, reject and
    cancel decide pending ones; ``dry-run/`` answers a plan and stores nothing."""

    queryset = RecoveryAction.objects.all()
    selector = staticmethod(selectors.action_list)
    serializer_class = RecoveryActionSerializer
    filterset_class = filters.ActionFilter
    ordering_fields = ["created_at"]

    @extend_schema(request=ManualActionSerializer, responses={201: RecoveryActionSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = ManualActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        component = get_visible_or_404(Component, request.user, pk=data.pop("component"))
        signal_id = data.pop("signal")
        signal = get_visible_or_404(AnomalySignal, request.user, pk=signal_id) if signal_id else None
        action = services.action_create_manual(actor=request.user, component=component, signal=signal, **data)
        return Response(RecoveryActionSerializer(action).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DryRunSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"], url_path="dry-run")
    def dry_run(self, request: Request) -> Response:
        """What an action would do on a component, step by step. Nothing is done and nothing is stored."""
        body = DryRunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        component = get_visible_or_404(Component, request.user, pk=data.pop("component"))
        return Response(services.action_dry_run(actor=request.user, component=component, **data))

    def _decide(self, request: Request, service: Any) -> Response:
        target = self.get_object()  # 404 for someone else's action before anything about the body
        body = ActionReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        action = service(actor=request.user, action=target, **body.validated_data)
        return Response(RecoveryActionSerializer(action).data)

    @extend_schema(request=ActionReasonSerializer, responses=RecoveryActionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, services.action_approve)

    @extend_schema(request=ActionReasonSerializer, responses=RecoveryActionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, services.action_reject)

    @extend_schema(request=ActionReasonSerializer, responses=RecoveryActionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, services.action_cancel)

    @extend_schema(parameters=[OpenApiParameter("range", str, description="1h, 6h, 24h (default) or 7d")])
    @action(detail=False, methods=["get"])
    def statistics(self, request: Request) -> Response:
        """Success rate, effectiveness and mean time to recover, overall, per action type and per component."""
        span = parse_range(request.query_params, default="24h", strict=True)
        return Response(selectors.action_statistics(actor=request.user, window=span))


class HealingDecisionSerializer(serializers.ModelSerializer[HealingDecision]):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = HealingDecision
        fields = "__all__"
        read_only_fields = [f.name for f in HealingDecision._meta.fields]


class HealingDecisionViewSet(OwnedReadOnlyViewSet[HealingDecision]):
    """Why the engine did (or did not) act on each signal."""

    queryset = HealingDecision.objects.all()
    selector = staticmethod(selectors.decision_list)
    serializer_class = HealingDecisionSerializer
    filterset_class = filters.DecisionFilter
    ordering_fields = ["created_at"]


class BackoffSerializer(serializers.ModelSerializer[Backoff]):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = Backoff
        fields = "__all__"
        read_only_fields = [f.name for f in Backoff._meta.fields]


class BackoffViewSet(OwnedReadOnlyViewSet[Backoff]):
    """Cooldowns per component and action: attempts that did not help and when the next run is allowed."""

    queryset = Backoff.objects.all()
    selector = staticmethod(selectors.backoff_list)
    serializer_class = BackoffSerializer
    pagination_class = None
    filterset_class = filters.BackoffFilter


class HealingSwitchSerializer(serializers.Serializer[Any]):
    paused = serializers.BooleanField()
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    everyone = serializers.BooleanField(required=False, default=False)


class HealingViewSet(viewsets.ViewSet):
    """The pause switch of automatic healing: yours, or (administrators) everyone's."""

    serializer_class = HealingSwitchSerializer

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def list(self, request: Request) -> Response:
        return Response(selectors.healing_state(actor=request.user))

    @extend_schema(request=HealingSwitchSerializer, responses=OpenApiTypes.OBJECT)
    def create(self, request: Request) -> Response:
        body = HealingSwitchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.healing_pause_set(actor=request.user, **body.validated_data)
        return Response(selectors.healing_state(actor=request.user))
