"""Healing policies: what to do about which signals; their track record; a replay of what they would have
done; becoming automatic on evidence."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core314.api import OwnedViewSetMixin
from core314.tenancy import effective_owner
from recovery import filters, selectors, services
from recovery.models import RecoveryPolicy
from recovery.replay import policy_replay, replayed


class RecoveryPolicySerializer(serializers.ModelSerializer[RecoveryPolicy]):
    component_name = serializers.CharField(source="component.name", read_only=True, default=None)
    promotion_reason = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=500,
        help_text="An administrator's reason to make the policy automatic without a track record.",
    )  # fmt: skip

    class Meta:
        model = RecoveryPolicy
        fields = "__all__"
        read_only_fields = ["id", "owner", "created_at", "updated_at"]


class ReplaySerializer(serializers.Serializer[Any]):
    days = serializers.IntegerField(min_value=1, max_value=366, default=7)
    changes = serializers.DictField(required=False, default=dict, help_text="Policy fields to replay instead.")


class TrackRecordSerializer(serializers.Serializer[Any]):
    policy = serializers.IntegerField()
    pinned = serializers.BooleanField()
    steps = serializers.ListField(child=serializers.CharField())
    records = serializers.ListField(child=serializers.DictField())
    demotions = serializers.ListField(child=serializers.DictField())


class RecoveryPolicyViewSet(OwnedViewSetMixin[RecoveryPolicy], viewsets.ModelViewSet[RecoveryPolicy]):
    """Owned rules mapping anomalies to actions; the first matching enabled policy by priority decides.

    Making a policy automatic needs a track record (dry or approved runs that matched a repair that helped) or
    an administrator's ``promotion_reason``."""

    queryset = RecoveryPolicy.objects.all()
    selector = staticmethod(selectors.policy_list)
    serializer_class = RecoveryPolicySerializer
    pagination_class = None
    filterset_class = filters.PolicyFilter

    def perform_create(self, serializer: serializers.BaseSerializer[RecoveryPolicy]) -> None:
        owner = effective_owner(self.request.user)
        fields = dict(serializer.validated_data)
        fields.pop("promotion_reason", None)
        serializer.instance = services.policy_save(actor=self.request.user, owner=owner, **fields)

    def perform_update(self, serializer: serializers.BaseSerializer[RecoveryPolicy]) -> None:
        policy = serializer.instance
        if policy is None:  # DRF's update() always hands the serializer its instance
            raise ImproperlyConfigured("perform_update without an instance")
        fields = dict(serializer.validated_data)
        serializer.instance = services.policy_save(
            actor=self.request.user,
            owner=policy.owner,
            policy=policy,
            promotion_reason=fields.pop("promotion_reason", ""),
            **fields,
        )

    def perform_destroy(self, instance: RecoveryPolicy) -> None:
        services.policy_delete(actor=self.request.user, policy=instance)

    @extend_schema(responses=TrackRecordSerializer)
    @action(detail=True, methods=["get"], url_path="track-record")
    def track_record(self, request: Request, pk: str | None = None) -> Response:
        """How each step has done per (component type or tag, signal kind) over 90 days, and its demotions."""
        return Response(selectors.policy_track_record(policy=self.get_object()))

    @extend_schema(
        request=ReplaySerializer,
        responses={200: dict},
        parameters=[OpenApiParameter("days", int, description="in the body: 1 to CORE314_REPLAY_MAX_DAYS")],
    )
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: str | None = None) -> Response:
        """What this policy (with ``changes``, if given) would have done over the last ``days``; read only."""
        saved = self.get_object()  # another's row is a 404 whatever the body says
        body = ReplaySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        policy = replayed(saved, body.validated_data["changes"])
        return Response(policy_replay(policy=policy, days=body.validated_data["days"]))
