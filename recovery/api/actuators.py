"""How the platform acts on a component and whom it tells: actuators (and process control), escalation
targets, the deployment history."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core314.api import OwnedViewSetMixin
from core314.pagination import DeployedAtPagination
from core314.tenancy import effective_owner
from recovery import filters, selectors, services
from recovery.models import (
    Actuator,
    Deployment,
    EscalationTarget,
)


class DeploymentSerializer(serializers.ModelSerializer[Deployment]):
    component_name = serializers.CharField(source="component.name", read_only=True)

    def to_representation(self, instance: Deployment) -> dict[str, Any]:
        from recovery.actuators import spec_shown

        data: dict[str, Any] = super().to_representation(instance)
        data["spec"] = spec_shown(instance.spec or {})  # a process's env and argv may hold secrets
        return data

    class Meta:
        model = Deployment
        fields = "__all__"
        read_only_fields = ["id", "owner", "deployed_at", "deployed_by"]


class DeploymentViewSet(
    OwnedViewSetMixin[Deployment], mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Deployment]
):
    """Each component's deployment history; deploy tools POST here, rollback returns to the last good one."""

    queryset = Deployment.objects.all()
    selector = staticmethod(selectors.deployment_list)
    serializer_class = DeploymentSerializer
    pagination_class = DeployedAtPagination
    filterset_class = filters.DeploymentFilter

    def perform_create(self, serializer: serializers.BaseSerializer[Deployment]) -> None:
        serializer.instance = services.deployment_record(actor=self.request.user, **serializer.validated_data)


class EscalationTargetSerializer(serializers.ModelSerializer[EscalationTarget]):
    """The Slack webhook URL (its path is its secret) and the PagerDuty routing key are write-only: the answer
    says whether they are set."""

    component_name = serializers.CharField(source="component.name", read_only=True, default=None)
    pagerduty_routing_key = serializers.CharField(write_only=True, required=False, allow_blank=True, default="")
    has_pagerduty_key = serializers.SerializerMethodField()
    has_slack_webhook = serializers.SerializerMethodField()

    class Meta:
        model = EscalationTarget
        fields = [
            "id", "owner", "component", "component_name", "emails", "slack_webhook_url", "has_slack_webhook",
            "pagerduty_url", "pagerduty_routing_key", "has_pagerduty_key", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "owner", "updated_at"]
        extra_kwargs = {"slack_webhook_url": {"write_only": True}}

    def get_has_pagerduty_key(self, obj: EscalationTarget) -> bool:
        return bool(obj.pagerduty_routing_key)

    def get_has_slack_webhook(self, obj: EscalationTarget) -> bool:
        return bool(obj.slack_webhook_url)


class EscalationTargetViewSet(
    OwnedViewSetMixin[EscalationTarget], mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[EscalationTarget]
):
    """Who is told on escalation. POST replaces the target of that component (or the default, with none)."""

    queryset = EscalationTarget.objects.all()
    selector = staticmethod(selectors.escalation_target_list)
    serializer_class = EscalationTargetSerializer
    pagination_class = None
    filterset_class = filters.EscalationTargetFilter

    def perform_create(self, serializer: serializers.BaseSerializer[EscalationTarget]) -> None:
        data = dict(serializer.validated_data)
        component = data.pop("component", None)
        owner = component.owner if component is not None else effective_owner(self.request.user)
        serializer.instance = services.escalation_target_save(
            actor=self.request.user, owner=owner, component=component, **data
        )


class ProcessControlSerializer(serializers.Serializer[Any]):
    operation = serializers.ChoiceField(choices=["start", "stop", "restart", "deploy", "status"])
    version = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    replicas = serializers.IntegerField(required=False, min_value=0, max_value=64, allow_null=True, default=None)


class ActuatorSerializer(serializers.ModelSerializer[Actuator]):
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


class ActuatorViewSet(OwnedViewSetMixin[Actuator], mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Actuator]):
    """How the platform acts on each component. POST replaces the actuator of that kind; secrets never return."""

    queryset = Actuator.objects.all()
    selector = staticmethod(selectors.actuator_list)
    serializer_class = ActuatorSerializer
    pagination_class = None
    filterset_class = filters.ActuatorFilter

    def perform_create(self, serializer: serializers.BaseSerializer[Actuator]) -> None:
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
