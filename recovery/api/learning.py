"""What the healer learned: repairs demoted on a component (and restoring one), and the scale-outs it will
scale back in."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core314.api import OwnedReadOnlyViewSet
from core314.pagination import StartedAtPagination
from recovery import filters, selectors, services
from recovery.models import Demotion, ScaleOut


class DemotionSerializer(serializers.ModelSerializer[Demotion]):
    component_name = serializers.CharField(source="component.name", read_only=True)
    cleared_by = serializers.CharField(source="cleared_by.username", read_only=True, default=None)

    class Meta:
        model = Demotion
        fields = [
            "id", "owner", "component", "component_name", "action_type", "reason", "actions", "created_at",
            "cleared_at", "cleared_by", "clear_reason",
        ]  # fmt: skip
        read_only_fields = fields


class ClearSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=300)


class ScaleOutSerializer(serializers.ModelSerializer[ScaleOut]):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = ScaleOut
        fields = [
            "id", "owner", "component", "component_name", "action", "signal", "metric", "band_high",
            "from_replicas", "replicas", "steps", "cooldown_s", "started_at", "last_step_at", "ended_at",
            "end_reason", "waiting",
        ]  # fmt: skip
        read_only_fields = fields


class DemotionViewSet(OwnedReadOnlyViewSet[Demotion]):
    """Repairs that failed three times in a row on a component: tried there only after every other step."""

    queryset = Demotion.objects.all()
    selector = staticmethod(selectors.demotion_list)
    serializer_class = DemotionSerializer
    filterset_class = filters.DemotionFilter

    @extend_schema(request=ClearSerializer, responses=DemotionSerializer)
    @action(detail=True, methods=["post"])
    def clear(self, request: Request, pk: str | None = None) -> Response:
        """Trust the repair on this component again (say why)."""
        demotion = self.get_object()  # another's row is a 404 whatever the body says
        body = ClearSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        demotion = services.demotion_clear(actor=request.user, demotion=demotion, reason=body.validated_data["reason"])
        return Response(DemotionSerializer(demotion).data)


class ScaleOutViewSet(OwnedReadOnlyViewSet[ScaleOut]):
    """Replicas the healer added, until it scaled back in (``waiting`` says why not yet)."""

    queryset = ScaleOut.objects.all()
    selector = staticmethod(selectors.scale_out_list)
    serializer_class = ScaleOutSerializer
    filterset_class = filters.ScaleOutFilter
    pagination_class = StartedAtPagination
