"""Healing policies: what to do about which signals."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers, viewsets

from core314.api import OwnedViewSetMixin
from core314.tenancy import effective_owner
from recovery import filters, selectors, services
from recovery.models import (
    RecoveryPolicy,
)


class RecoveryPolicySerializer(serializers.ModelSerializer[RecoveryPolicy]):
    component_name = serializers.CharField(source="component.name", read_only=True, default=None)

    class Meta:
        model = RecoveryPolicy
        fields = "__all__"
        read_only_fields = ["id", "owner", "created_at", "updated_at"]


class RecoveryPolicyViewSet(OwnedViewSetMixin[RecoveryPolicy], viewsets.ModelViewSet[RecoveryPolicy]):
    """Owned rules mapping anomalies to actions; the first matching enabled policy by priority decides."""

    queryset = RecoveryPolicy.objects.all()
    selector = staticmethod(selectors.policy_list)
    serializer_class = RecoveryPolicySerializer
    pagination_class = None
    filterset_class = filters.PolicyFilter

    def perform_create(self, serializer: serializers.BaseSerializer[RecoveryPolicy]) -> None:
        owner = effective_owner(self.request.user)
        serializer.instance = services.policy_save(actor=self.request.user, owner=owner, **serializer.validated_data)

    def perform_update(self, serializer: serializers.BaseSerializer[RecoveryPolicy]) -> None:
        policy = serializer.instance
        if policy is None:  # DRF's update() always hands the serializer its instance
            raise ImproperlyConfigured("perform_update without an instance")
        serializer.instance = services.policy_save(
            actor=self.request.user, owner=policy.owner, policy=policy, **serializer.validated_data
        )

    def perform_destroy(self, instance: RecoveryPolicy) -> None:
        services.policy_delete(actor=self.request.user, policy=instance)
