from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from anomalies.models import AnomalySignal
from core314.api import OwnedReadOnlyViewSet


class AnomalySignalSerializer(serializers.ModelSerializer):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = AnomalySignal
        fields = "__all__"
        read_only_fields = ["id", "owner", "created_at", "updated_at"]


class AnomalySignalViewSet(OwnedReadOnlyViewSet):
    queryset = AnomalySignal.objects.all()
    serializer_class = AnomalySignalSerializer
    filterset_fields = {
        "component": ["exact"],
        "kind": ["exact"],
        "severity": ["exact", "in"],
        "status": ["exact", "in"],
        "last_seen_at": ["gte", "lt"],
    }
    ordering_fields = ["created_at"]

    def refine(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("component")
