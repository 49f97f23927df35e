from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from core314.api import OwnedReadOnlyViewSet
from recovery.models import RecoveryAction


class RecoveryActionSerializer(serializers.ModelSerializer):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = RecoveryAction
        fields = "__all__"
        read_only_fields = ["id", "owner", "created_at"]


class RecoveryActionViewSet(OwnedReadOnlyViewSet):
    queryset = RecoveryAction.objects.all()
    serializer_class = RecoveryActionSerializer
    filterset_fields = {
        "component": ["exact"],
        "action_type": ["exact"],
        "status": ["exact", "in"],
        "created_at": ["gte", "lt"],
    }
    ordering_fields = ["created_at"]

    def refine(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("component")
