from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core314.api import OwnedReadOnlyViewSet, OwnedViewSetMixin
from core314.idempotency import run_once
from core314.params import parse_range
from core314.parsers import LenientJSONParser
from core314.services import DomainError
from health import filters, selectors, services, thresholds
from health.models import Component, ComponentType, ExecutionRecord, Probe, SystemHealthEvent

IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="A retried request with the same key and body is answered from the first, not stored twice.",
)


class ComponentSerializer(serializers.ModelSerializer[Component]):
    effective_thresholds = serializers.SerializerMethodField()

    class Meta:
        model = Component
        fields = [
            "id", "owner", "name", "type", "environment", "description", "tags", "depends_on", "is_platform",
            "status", "status_reason", "status_changed_at", "last_report_at", "thresholds", "effective_thresholds",
            "flap_bad_n", "flap_window_m", "flap_recover_k", "stale_after_s", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_effective_thresholds(self, obj: Component) -> dict[str, list[float]]:
        return thresholds.thresholds_for(obj.type, obj.thresholds)


class ComponentCreateSerializer(serializers.Serializer[Any]):
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", max_length=100)
    type = serializers.ChoiceField(choices=ComponentType.choices, default=ComponentType.API)
    environment = serializers.CharField(max_length=50, default="production")
    description = serializers.CharField(max_length=300, default="", allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=40), default=list, max_length=20)
    depends_on = serializers.ListField(child=serializers.IntegerField(), default=list, max_length=50)


class ComponentSettingsSerializer(serializers.Serializer[Any]):
    thresholds = serializers.DictField(required=False)
    flap_bad_n = serializers.IntegerField(required=False, min_value=1, max_value=20)
    flap_window_m = serializers.IntegerField(required=False, min_value=1, max_value=20)
    flap_recover_k = serializers.IntegerField(required=False, min_value=1, max_value=20)
    stale_after_s = serializers.IntegerField(required=False, min_value=5, max_value=86_400)


class ComponentViewSet(OwnedViewSetMixin[Component], mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Component]):
    queryset = Component.objects.all()
    selector = staticmethod(selectors.component_list_with_dependencies)
    serializer_class = ComponentSerializer
    pagination_class = None
    filterset_class = filters.ComponentFilter
    ordering_fields = ["name", "created_at"]

    @extend_schema(request=ComponentCreateSerializer, responses=ComponentSerializer)
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = ComponentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        wanted = data.pop("depends_on")
        depends_on = list(self.get_queryset().filter(pk__in=wanted))
        if len(depends_on) != len(set(wanted)):
            raise DomainError("depends_on names a component that is not yours.")
        component = services.component_create(actor=request.user, depends_on=depends_on, **data)
        return Response(ComponentSerializer(component).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ComponentSettingsSerializer, responses=ComponentSerializer)
    @action(detail=True, methods=["post"], url_path="settings")
    def update_settings(self, request: Request, pk: str | None = None) -> Response:
        """Change status thresholds, flap damping (N of M worse, K to recover) and the stale limit."""
        component = self.get_object()
        body = ComponentSettingsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        component = services.component_update_settings(
            actor=request.user, component=component, thresholds_override=data.pop("thresholds", None), **data
        )
        return Response(ComponentSerializer(component).data)

    @action(detail=True, methods=["get"])
    def availability(self, request: Request, pk: str | None = None) -> Response:
        """Time-weighted availability over ``?range=`` (15m, 1h, 6h, 24h, 7d; default 24h)."""
        from django.utils import timezone

        component = self.get_object()
        span = parse_range(request.query_params, default="24h", strict=True)
        end = timezone.now()
        value = selectors.availability_over(actor=request.user, component_id=component.pk, start=end - span, end=end)
        return Response({"component": component.pk, "start": end - span, "end": end, "availability": value})

    @action(detail=True, methods=["get"], url_path="status-history")
    def status_history(self, request: Request, pk: str | None = None) -> Response:
        component = self.get_object()
        changes = selectors.status_history(actor=request.user, component=component)
        return Response([{"at": c.at, "from": c.before, "to": c.after, "reason": c.reason} for c in changes])


class SystemHealthEventSerializer(serializers.ModelSerializer[SystemHealthEvent]):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = SystemHealthEvent
        fields = "__all__"
        read_only_fields = [f.name for f in SystemHealthEvent._meta.concrete_fields]


class HealthEventInSerializer(serializers.Serializer[Any]):
    """The shape of a pushed event (for the schema). Validation is health.ingest's single pass."""

    component = serializers.IntegerField(required=False, help_text="Component id; or give component_name.")
    component_name = serializers.CharField(required=False)
    environment = serializers.CharField(required=False, default="production")
    window_start = serializers.DateTimeField(help_text="ISO-8601 with a time zone, or epoch seconds.")
    window_end = serializers.DateTimeField(required=False, help_text="Default: window_start + roll-up interval.")
    status = serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy", "critical"], required=False)
    latency_avg_ms = serializers.FloatField(required=False, min_value=0)
    latency_p50_ms = serializers.FloatField(required=False, min_value=0)
    latency_p95_ms = serializers.FloatField(required=False, min_value=0)
    latency_p99_ms = serializers.FloatField(required=False, min_value=0)
    latency_max_ms = serializers.FloatField(required=False, min_value=0)
    request_count = serializers.IntegerField(required=False, min_value=0)
    error_count = serializers.IntegerField(required=False, min_value=0)
    timeout_count = serializers.IntegerField(required=False, min_value=0)
    error_rate = serializers.FloatField(required=False, min_value=0, max_value=1)
    availability = serializers.FloatField(required=False, min_value=0, max_value=1)
    throughput_rps = serializers.FloatField(required=False, min_value=0)
    cpu_percent = serializers.FloatField(required=False, min_value=0, max_value=100)
    memory_percent = serializers.FloatField(required=False, min_value=0, max_value=100)
    disk_percent = serializers.FloatField(required=False, min_value=0, max_value=100)
    connections = serializers.IntegerField(required=False, min_value=0)
    queue_depth = serializers.IntegerField(required=False, min_value=0)
    version = serializers.CharField(required=False, max_length=64)
    region = serializers.CharField(required=False, max_length=64)
    metadata = serializers.DictField(required=False)


class ExecutionRecordInSerializer(serializers.Serializer[Any]):
    component = serializers.IntegerField(required=False)
    component_name = serializers.CharField(required=False)
    environment = serializers.CharField(required=False, default="production")
    started_at = serializers.DateTimeField()
    duration_ms = serializers.FloatField(min_value=0)
    ok = serializers.BooleanField()
    error_kind = serializers.CharField(required=False, max_length=40, help_text="e.g. timeout, http_500")
    message = serializers.CharField(required=False, help_text="Stored sanitised, at most 500 characters.")


class EventBatchSerializer(serializers.Serializer[Any]):
    events = HealthEventInSerializer(many=True)


class RecordBatchSerializer(serializers.Serializer[Any]):
    records = ExecutionRecordInSerializer(many=True)


def _ingest_response(request: Request, scope: str, items_key: str, ingest: Any) -> Response:
    if not isinstance(request.data, dict) or items_key not in request.data:
        raise DomainError(f"Send a JSON object with an {items_key!r} array.")
    items = request.data[items_key]

    def perform() -> tuple[int, Any]:
        result = ingest(actor=request.user, items=items)
        return status.HTTP_201_CREATED, result.as_dict()

    code, body, replayed = run_once(
        actor=request.user,
        scope=scope,
        key=request.headers.get("Idempotency-Key"),
        body=request.data,
        perform=perform,
    )
    response = Response(body, status=code)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class SystemHealthEventViewSet(OwnedReadOnlyViewSet[SystemHealthEvent]):
    """Health events. Services push them one at a time or in batches; the monitoring job rolls them up."""

    queryset = SystemHealthEvent.objects.all()
    selector = staticmethod(selectors.health_event_list)
    serializer_class = SystemHealthEventSerializer
    parser_classes = [LenientJSONParser]
    filterset_class = filters.HealthEventFilter
    ordering_fields = ["created_at"]

    @extend_schema(request=HealthEventInSerializer, responses=SystemHealthEventSerializer)
    def create(self, request: Request) -> Response:
        """Push one event. Give ``component`` (id) or ``component_name``; ``status`` is derived if omitted."""
        if not isinstance(request.data, dict):
            raise DomainError("Send one event as a JSON object.")
        result = services.health_events_ingest(actor=request.user, items=[request.data])
        # COPY returns no ids: the row is the one this batch stored (its component and created_at).
        event = self.get_queryset().get(component_id=result.components[0], source="push", created_at=result.at)
        return Response(SystemHealthEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=EventBatchSerializer, parameters=[IDEMPOTENCY])
    @action(detail=False, methods=["post"])
    def batch(self, request: Request) -> Response:
        """Push up to CORE314_INGEST_BATCH_LIMIT (1000) events: all stored, or none with per-item errors."""
        return _ingest_response(request, "health-events.batch", "events", services.health_events_ingest)

    @action(detail=False, methods=["get"])
    def summary(self, request: Request) -> Response:
        """Per component: status, p95, error rate, availability; totals over ``?range=`` (default 1h)."""
        span = parse_range(request.query_params, default="1h", strict=True)
        return Response(selectors.health_summary(actor=request.user, window=span).as_dict())

    @action(detail=False, methods=["get"])
    def latest(self, request: Request) -> Response:
        """The newest event of every component."""
        latest = selectors.latest_health_per_component(actor=request.user)
        return Response(SystemHealthEventSerializer(list(latest.values()), many=True).data)


class ExecutionRecordSerializer(serializers.ModelSerializer[ExecutionRecord]):
    class Meta:
        model = ExecutionRecord
        fields = "__all__"
        read_only_fields = [f.name for f in ExecutionRecord._meta.concrete_fields]


class ExecutionRecordViewSet(OwnedReadOnlyViewSet[ExecutionRecord]):
    """Execution records: one per call a service made, or per probe run; rolled up every window."""

    queryset = ExecutionRecord.objects.all()
    selector = staticmethod(selectors.execution_record_list)
    serializer_class = ExecutionRecordSerializer
    parser_classes = [LenientJSONParser]
    filterset_class = filters.ExecutionRecordFilter
    ordering_fields = ["created_at"]

    @extend_schema(request=RecordBatchSerializer, parameters=[IDEMPOTENCY])
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        """Post up to CORE314_INGEST_RECORD_LIMIT (5000) records: all stored, or none with per-item errors."""
        return _ingest_response(request, "execution-records.bulk", "records", services.execution_records_ingest)


class ProbeSerializer(serializers.ModelSerializer[Probe]):
    """``target`` is written as given and read back with its password masked (write-only secrets)."""

    def to_representation(self, instance: Probe) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        data["target"] = instance.shown_target
        return data

    class Meta:
        model = Probe
        fields = [
            "id", "owner", "component", "kind", "target", "interval_s", "timeout_s", "expected_status",
            "body_match", "options", "enabled", "next_run_at", "last_run_at", "last_ok", "last_error", "created_at",
        ]  # fmt: skip
        read_only_fields = [
            "id",
            "owner",
            "next_run_at",
            "last_run_at",
            "last_ok",
            "last_error",
            "created_at",
        ]


class ProbeViewSet(OwnedViewSetMixin[Probe], mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Probe]):
    queryset = Probe.objects.all()
    selector = staticmethod(selectors.probe_list)
    serializer_class = ProbeSerializer
    pagination_class = None
    filterset_class = filters.ProbeFilter
    ordering_fields = ["created_at"]

    def perform_create(self, serializer: serializers.BaseSerializer[Probe]) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.probe_create(actor=self.request.user, **data)
