from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from core314.api import OwnedReadOnlyViewSet
from health.models import Component, SystemHealthEvent


class ComponentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Component
        fields = [
            "id",
            "owner",
            "name",
            "type",
            "environment",
            "description",
            "tags",
            "depends_on",
            "is_platform",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SystemHealthEventSerializer(serializers.ModelSerializer):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = SystemHealthEvent
        fields = "__all__"
        read_only_fields = ["id", "owner", "created_at"]


class ComponentViewSet(OwnedReadOnlyViewSet):
    queryset = Component.objects.all()
    serializer_class = ComponentSerializer
    pagination_class = None
    filterset_fields = ["type", "environment", "is_platform"]
    ordering_fields = ["name", "created_at"]

    def refine(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.prefetch_related("depends_on")


class SystemHealthEventViewSet(OwnedReadOnlyViewSet):
    queryset = SystemHealthEvent.objects.all()
    serializer_class = SystemHealthEventSerializer
    filterset_fields = {
        "component": ["exact"],
        "status": ["exact", "in"],
        "source": ["exact"],
        "window_start": ["gte", "lt"],
    }
    ordering_fields = ["created_at"]

    def refine(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("component")
