from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from anomalies.models import AnomalySignal
from core314.api import OwnedReadOnlyViewSet, OwnedViewSetMixin
from core314.pagination import DeployedAtPagination
from core314.params import parse_range
from core314.services import DomainError
from core314.tenancy import effective_owner, get_visible_or_404
from health.models import Component
from recovery import filters, selectors, services
from recovery.models import (
    ActionType,
    Actuator,
    Backoff,
    CircuitBreaker,
    Deployment,
    EscalationTarget,
    HealingDecision,
    RecoveryAction,
    RecoveryPolicy,
)


class RecoveryActionSerializer(serializers.ModelSerializer):
    component_name = serializers.CharField(source="component.name", read_only=True)
    policy_name = serializers.CharField(source="policy.name", read_only=True, default=None)

    class Meta:
        model = RecoveryAction
        exclude = ["claimed_by"]
        read_only_fields = [f.name for f in RecoveryAction._meta.fields if f.name != "claimed_by"]


class ManualActionSerializer(serializers.Serializer):
    component = serializers.IntegerField()
    action_type = serializers.ChoiceField(choices=ActionType.choices)
    parameters = serializers.JSONField(required=False, default=dict)
    reason = serializers.CharField(max_length=1000)
    signal = serializers.IntegerField(required=False, allow_null=True, default=None)
    dry_run = serializers.BooleanField(required=False, default=False)


class DryRunSerializer(serializers.Serializer):
    component = serializers.IntegerField()
    action_type = serializers.ChoiceField(choices=ActionType.choices)
    parameters = serializers.JSONField(required=False, default=dict)


class ActionReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class RecoveryActionViewSet(OwnedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
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


class RecoveryPolicySerializer(serializers.ModelSerializer):
    component_name = serializers.CharField(source="component.name", read_only=True, default=None)

    class Meta:
        model = RecoveryPolicy
        fields = "__all__"
        read_only_fields = ["id", "owner", "created_at", "updated_at"]


class RecoveryPolicyViewSet(OwnedViewSetMixin, viewsets.ModelViewSet):
    """Owned rules mapping anomalies to actions; the first matching enabled policy by priority decides."""

    queryset = RecoveryPolicy.objects.all()
    selector = staticmethod(selectors.policy_list)
    serializer_class = RecoveryPolicySerializer
    pagination_class = None
    filterset_class = filters.PolicyFilter

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        owner = effective_owner(self.request.user)
        serializer.instance = services.policy_save(actor=self.request.user, owner=owner, **serializer.validated_data)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        policy = serializer.instance
        serializer.instance = services.policy_save(
            actor=self.request.user, owner=policy.owner, policy=policy, **serializer.validated_data
        )

    def perform_destroy(self, instance: RecoveryPolicy) -> None:
        services.policy_delete(actor=self.request.user, policy=instance)


class HealingDecisionSerializer(serializers.ModelSerializer):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = HealingDecision
        fields = "__all__"
        read_only_fields = [f.name for f in HealingDecision._meta.fields]


class HealingDecisionViewSet(OwnedReadOnlyViewSet):
    """Why the engine did (or did not) act on each signal."""

    queryset = HealingDecision.objects.all()
    selector = staticmethod(selectors.decision_list)
    serializer_class = HealingDecisionSerializer
    filterset_class = filters.DecisionFilter
    ordering_fields = ["created_at"]


class BackoffSerializer(serializers.ModelSerializer):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = Backoff
        fields = "__all__"
        read_only_fields = [f.name for f in Backoff._meta.fields]


class BackoffViewSet(OwnedReadOnlyViewSet):
    """Cooldowns per component and action: attempts that did not help and when the next run is allowed."""

    queryset = Backoff.objects.all()
    selector = staticmethod(selectors.backoff_list)
    serializer_class = BackoffSerializer
    pagination_class = None
    filterset_class = filters.BackoffFilter


class DeploymentSerializer(serializers.ModelSerializer):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = Deployment
        fields = "__all__"
        read_only_fields = ["id", "owner", "deployed_at", "deployed_by"]


class DeploymentViewSet(OwnedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Each component's deployment history; deploy tools POST here, rollback returns to the last good one."""

    queryset = Deployment.objects.all()
    selector = staticmethod(selectors.deployment_list)
    serializer_class = DeploymentSerializer
    pagination_class = DeployedAtPagination
    filterset_class = filters.DeploymentFilter

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        serializer.instance = services.deployment_record(actor=self.request.user, **serializer.validated_data)


class HealingSwitchSerializer(serializers.Serializer):
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


class CircuitBreakerSerializer(serializers.ModelSerializer):
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


class BreakerOpenSerializer(serializers.Serializer):
    component = serializers.IntegerField()
    reason = serializers.CharField(max_length=300)
    cooldown_s = serializers.IntegerField(required=False, min_value=1, max_value=86_400)


class BreakerReportSerializer(serializers.Serializer):
    ok = serializers.BooleanField()


class BreakerViewSerializer(serializers.Serializer):
    component_id = serializers.IntegerField()
    component = serializers.CharField()
    state = serializers.ChoiceField(choices=["closed", "open", "half_open"])
    allow = serializers.BooleanField()
    retry_after_s = serializers.FloatField(allow_null=True)


class CircuitBreakerViewSet(OwnedReadOnlyViewSet):
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
        breaker = services.breaker_record_trial(component_id=breaker.component_id, ok=body.validated_data["ok"])
        return Response(CircuitBreakerSerializer(breaker).data)


class EscalationTargetSerializer(serializers.ModelSerializer):
    component_name = serializers.CharField(source="component.name", read_only=True, default=None)
    pagerduty_routing_key = serializers.CharField(write_only=True, required=False, allow_blank=True, default="")
    has_pagerduty_key = serializers.SerializerMethodField()

    class Meta:
        model = EscalationTarget
        fields = [
            "id", "owner", "component", "component_name", "emails", "slack_webhook_url", "pagerduty_url",
            "pagerduty_routing_key", "has_pagerduty_key", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "owner", "updated_at"]

    def get_has_pagerduty_key(self, obj: EscalationTarget) -> bool:
        return bool(obj.pagerduty_routing_key)


class EscalationTargetViewSet(OwnedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Who is told on escalation. POST replaces the target of that component (or the default, with none)."""

    queryset = EscalationTarget.objects.all()
    selector = staticmethod(selectors.escalation_target_list)
    serializer_class = EscalationTargetSerializer
    pagination_class = None
    filterset_class = filters.EscalationTargetFilter

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        component = data.pop("component", None)
        owner = component.owner if component is not None else effective_owner(self.request.user)
        serializer.instance = services.escalation_target_save(
            actor=self.request.user, owner=owner, component=component, **data
        )


class ProcessControlSerializer(serializers.Serializer):
    operation = serializers.ChoiceField(choices=["start", "stop", "restart", "deploy", "status"])
    version = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    replicas = serializers.IntegerField(required=False, min_value=0, max_value=64, allow_null=True, default=None)


class ActuatorSerializer(serializers.ModelSerializer):
    component_name = serializers.CharField(source="component.name", read_only=True)
    config = serializers.JSONField(write_only=True)
    shown_config = serializers.SerializerMethodField()

    class Meta:
        model = Actuator
        fields = [
            "id",
            "owner",
            "component",
            "component_name",
            "kind",
            "config",
            "shown_config",
            "enabled",
            "updated_at",
        ]
        read_only_fields = ["id", "owner", "updated_at"]

    def get_shown_config(self, obj: Actuator) -> dict[str, Any]:
        from recovery.actuators import redacted

        return redacted(obj.kind, obj.config)


class ActuatorViewSet(OwnedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """How the platform acts on each component. POST replaces the actuator of that kind; secrets never return."""

    queryset = Actuator.objects.all()
    selector = staticmethod(selectors.actuator_list)
    serializer_class = ActuatorSerializer
    pagination_class = None
    filterset_class = filters.ActuatorFilter

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.actuator_save(actor=self.request.user, **data)

    @extend_schema(request=ProcessControlSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def control(self, request: Request, pk: str | None = None) -> Response:
        """A supervised process: start, stop, restart, deploy (switch version) or status. Administrators only."""
        actuator = self.get_object()
        body = ProcessControlSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        answer = services.process_control(actor=request.user, actuator=actuator, **body.validated_data)
        return Response(answer)
