from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from anomalies import filters, selectors, services
from anomalies.models import AnomalyKind, AnomalySignal, DetectionSettings, Feedback, Incident, Silence
from core314.api import OwnedReadOnlyViewSet, OwnedViewSetMixin
from core314.pagination import KeysetPagination
from core314.params import parse_id, parse_range
from core314.services import DomainError
from core314.tenancy import get_visible_or_404
from health.models import Component
from health.selectors import component_list


class AnomalySignalSerializer(serializers.ModelSerializer[AnomalySignal]):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = AnomalySignal
        fields = "__all__"
        read_only_fields = [f.name for f in AnomalySignal._meta.concrete_fields]


class NoteSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class FeedbackSerializer(serializers.Serializer[Any]):
    verdict = serializers.ChoiceField(choices=Feedback.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class LastSeenPagination(KeysetPagination):
    ordering = ("-last_seen_at", "-id")


class AnomalySignalViewSet(OwnedReadOnlyViewSet[AnomalySignal]):
    """Anomaly signals: one per ongoing incident of one kind on one metric of one component."""

    queryset = AnomalySignal.objects.all()
    selector = staticmethod(selectors.signal_list)
    serializer_class = AnomalySignalSerializer
    filterset_class = filters.SignalFilter
    ordering_fields = ["created_at"]

    @extend_schema(request=NoteSerializer, responses=AnomalySignalSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        body = NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        signal = services.signal_acknowledge(
            actor=request.user, signal=self.get_object(), note=body.validated_data["note"]
        )
        return Response(AnomalySignalSerializer(signal).data)

    @extend_schema(request=NoteSerializer, responses=AnomalySignalSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        body = NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        signal = services.signal_resolve(actor=request.user, signal=self.get_object(), note=body.validated_data["note"])
        return Response(AnomalySignalSerializer(signal).data)

    @extend_schema(request=FeedbackSerializer, responses=AnomalySignalSerializer)
    @action(detail=True, methods=["post"])
    def feedback(self, request: Request, pk: str | None = None) -> Response:
        """Mark the signal ``real`` or a ``false_alarm`` (its incident takes the word too)."""
        signal = self.get_object()  # another tenant's id is a 404 before its body is read
        body = FeedbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        signal = services.signal_feedback_set(actor=request.user, signal=signal, **body.validated_data)
        return Response(AnomalySignalSerializer(signal).data)

    @extend_schema(request=NoteSerializer, responses=AnomalySignalSerializer)
    @action(detail=True, methods=["post"], url_path="accept-normal")
    def accept_normal(self, request: Request, pk: str | None = None) -> Response:
        """This level is the new normal: the detector relearns the metric and the signal resolves."""
        body = NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        signal = services.signal_accept_normal(
            actor=request.user, signal=self.get_object(), note=body.validated_data["note"]
        )
        return Response(AnomalySignalSerializer(signal).data)

    @action(detail=False, methods=["get"])
    def statistics(self, request: Request) -> Response:
        """Counts by status, severity and kind, and mean time to resolve, over ``?range=`` (default 24h)."""
        span = parse_range(request.query_params, default="24h", strict=True)
        return Response(selectors.signal_statistics(actor=request.user, window=span))


class IncidentMemberSerializer(serializers.ModelSerializer[AnomalySignal]):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = AnomalySignal
        fields = ["id", "component", "component_name", "kind", "metric", "severity", "status", "first_seen_at",
                  "last_seen_at", "normal_since", "silenced", "feedback"]  # fmt: skip
        read_only_fields = fields


class IncidentSerializer(serializers.ModelSerializer[Incident]):
    component_name = serializers.CharField(source="component.name", read_only=True)
    signals = IncidentMemberSerializer(many=True, read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id", "owner", "component", "component_name", "title", "status", "severity", "opened_at",
            "last_seen_at", "episode", "episode_started_at", "silenced", "acknowledged_by", "acknowledged_at",
            "resolved_by", "resolved_at", "resolution_note", "feedback", "feedback_by", "feedback_at", "signals",
        ]  # fmt: skip
        read_only_fields = fields


class IncidentViewSet(OwnedReadOnlyViewSet[Incident]):
    """Incidents: the signals of one fault, grouped (one page, one healing decision per episode)."""

    queryset = Incident.objects.all()
    selector = staticmethod(selectors.incident_list)
    serializer_class = IncidentSerializer
    filterset_class = filters.IncidentFilter
    ordering_fields = ["last_seen_at"]
    pagination_class = LastSeenPagination

    @extend_schema(request=NoteSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        body = NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = services.incident_acknowledge(
            actor=request.user, incident=self.get_object(), note=body.validated_data["note"]
        )
        return Response(IncidentSerializer(self.get_queryset().get(pk=incident.pk)).data)

    @extend_schema(request=NoteSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        body = NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = services.incident_resolve(
            actor=request.user, incident=self.get_object(), note=body.validated_data["note"]
        )
        return Response(IncidentSerializer(self.get_queryset().get(pk=incident.pk)).data)

    @extend_schema(request=FeedbackSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def feedback(self, request: Request, pk: str | None = None) -> Response:
        """Was this page worth it: ``real`` or ``false_alarm``."""
        incident = self.get_object()  # another tenant's id is a 404 before its body is read
        body = FeedbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = services.incident_feedback_set(actor=request.user, incident=incident, **body.validated_data)
        return Response(IncidentSerializer(self.get_queryset().get(pk=incident.pk)).data)

    @action(detail=False, methods=["get"], url_path="pages-per-component")
    def pages_per_component(self, request: Request) -> Response:
        """Per component: pages a week over the last 4 weeks, and the share marked real."""
        return Response(selectors.pages_per_component(actor=request.user))


class SilenceSerializer(serializers.ModelSerializer[Silence]):
    kind = serializers.ChoiceField(choices=[("", "any"), *AnomalyKind.choices], required=False, default="")

    class Meta:
        model = Silence
        fields = [
            "id", "owner", "component", "kind", "match_name", "match_tag", "match_type", "starts_at", "ends_at",
            "cron", "duration_s", "time_zone", "reason", "released_at", "created_by", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "owner", "released_at", "created_by", "created_at"]


class SilenceViewSet(OwnedViewSetMixin[Silence], mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[Silence]):
    """Maintenance windows: signals still record but do not notify or trigger healing."""

    queryset = Silence.objects.all()
    selector = staticmethod(selectors.silence_list)
    serializer_class = SilenceSerializer
    filterset_class = filters.SilenceFilter
    ordering_fields = ["created_at"]

    def perform_create(self, serializer: serializers.BaseSerializer[Silence]) -> None:
        data = serializer.validated_data
        serializer.instance = services.silence_create(
            actor=self.request.user,
            component=data.get("component"),
            kind=data.get("kind", ""),
            starts_at=data.get("starts_at") or timezone.now(),
            ends_at=data["ends_at"],
            reason=data["reason"],
            match_name=data.get("match_name", ""),
            match_tag=data.get("match_tag", ""),
            match_type=data.get("match_type", ""),
            cron=data.get("cron", ""),
            duration_s=data.get("duration_s"),
            time_zone=data.get("time_zone") or "UTC",
        )

    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str | None = None) -> Response:
        silence = services.silence_end(actor=request.user, silence=self.get_object())
        return Response(SilenceSerializer(silence).data)


class DetectionSettingsSerializer(serializers.ModelSerializer[DetectionSettings]):
    component_name = serializers.CharField(source="component.name", read_only=True)

    class Meta:
        model = DetectionSettings
        fields = [
            "id", "owner", "component", "component_name", "enabled", "threshold", "window", "min_duration",
            "min_history", "resolve_after_s", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "owner", "updated_at"]


class ThresholdCandidateSerializer(serializers.Serializer[Any]):
    threshold = serializers.FloatField()
    pages = serializers.IntegerField()
    first_pages = serializers.ListField(child=serializers.DateTimeField())
    real_paged = serializers.IntegerField()
    false_paged = serializers.IntegerField()
    current = serializers.BooleanField()
    suggested = serializers.BooleanField()


class DetectionSettingsViewSet(
    OwnedViewSetMixin[DetectionSettings], mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet[DetectionSettings]
):
    """Per-component detector overrides: sensitivity (threshold), window, minimum duration, warm-up."""

    queryset = DetectionSettings.objects.all()
    selector = staticmethod(selectors.detection_settings_list)
    serializer_class = DetectionSettingsSerializer
    pagination_class = None
    filterset_class = filters.DetectionSettingsFilter

    def perform_create(self, serializer: serializers.BaseSerializer[DetectionSettings]) -> None:
        data = dict(serializer.validated_data)
        component = data.pop("component")
        serializer.instance = services.detection_settings_update(actor=self.request.user, component=component, **data)

    @extend_schema(
        parameters=[OpenApiParameter("component", int, required=True, description="The component's id.")],
        responses=ThresholdCandidateSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def backtest(self, request: Request) -> Response:
        """Each candidate threshold replayed on the component's own newest events: the pages it would have
        sent, and how many incidents marked real or false it would have paged (``suggested``: the highest
        that keeps every real one)."""
        component_id = parse_id(request.query_params, "component")
        if component_id is None:
            raise DomainError("Give component (an id).")
        component = get_visible_or_404(component_list(actor=request.user), request.user, pk=component_id)
        result = selectors.threshold_backtest(actor=request.user, component=component)
        return Response([candidate.as_dict() for candidate in result.candidates])


class GenericAlertSerializer(serializers.Serializer[Any]):
    """A documented, monitor-neutral alert: one object, or ``{"alerts": [...]}`` of them."""

    component = serializers.IntegerField(required=False)
    component_name = serializers.CharField(required=False)
    name = serializers.CharField(max_length=50)
    status = serializers.ChoiceField(choices=["firing", "resolved"], default="firing")
    severity = serializers.CharField(required=False, allow_blank=True, default="")
    fingerprint = serializers.CharField(required=False, allow_blank=True, default="", max_length=128)
    summary = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
    started_at = serializers.DateTimeField(required=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("component") is None and not data.get("component_name"):
            raise serializers.ValidationError({"component": "Give component (an id) or component_name."})
        return data


class AlertmanagerAlertSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=["firing", "resolved"])
    labels = serializers.DictField(child=serializers.CharField())
    annotations = serializers.DictField(child=serializers.CharField(), required=False)
    # Alertmanager's own field names.
    startsAt = serializers.DateTimeField(required=False)
    endsAt = serializers.DateTimeField(required=False)
    fingerprint = serializers.CharField(required=False)


class AlertmanagerPayloadSerializer(serializers.Serializer[Any]):
    """Alertmanager's webhook body (version 4); only the fields Core314 reads are listed."""

    version = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=["firing", "resolved"], required=False)
    alerts = AlertmanagerAlertSerializer(many=True)


class AlertOutcomeSerializer(serializers.Serializer[Any]):
    fingerprint = serializers.CharField()
    component = serializers.CharField(allow_null=True)
    result = serializers.ChoiceField(choices=["opened", "updated", "resolved", "ignored", "unmatched"])
    signal_id = serializers.IntegerField(allow_null=True)


class AlertOutcomesSerializer(serializers.Serializer[Any]):
    results = AlertOutcomeSerializer(many=True)


def _outcomes(outcomes: list[services.AlertOutcome]) -> Response:
    return Response({"results": [o.__dict__ for o in outcomes]})


class AlertViewSet(viewsets.ViewSet):
    """Alerts from other monitors become signals of kind ``external_alert`` (deduplicated by fingerprint)."""

    serializer_class = GenericAlertSerializer

    @extend_schema(request=GenericAlertSerializer, responses=AlertOutcomesSerializer)
    def create(self, request: Request) -> Response:
        items = (
            request.data.get("alerts")
            if isinstance(request.data, dict) and "alerts" in request.data
            else [request.data]
        )
        if not isinstance(items, list) or not items or len(items) > 500:
            raise DomainError("Send one alert object, or {'alerts': [...]} with 1 to 500 of them.")
        body = GenericAlertSerializer(data=items, many=True)
        body.is_valid(raise_exception=True)
        components = Component.objects.visible_to(request.user)
        resolved = []
        for index, alert in enumerate(body.validated_data):
            lookup = (
                {"pk": alert["component"]} if alert.get("component") is not None else {"name": alert["component_name"]}
            )
            component = components.filter(**lookup).first()
            if component is None:
                raise DomainError(f"alerts[{index}]: no component of yours matches {lookup}.")
            resolved.append((component, alert))
        outcomes = [
            services.external_alert_receive(
                actor=request.user, component=component, name=alert["name"], status=alert["status"],
                fingerprint=alert["fingerprint"], severity=alert["severity"], summary=alert["summary"],
                started_at=alert.get("started_at"),
            )
            for component, alert in resolved
        ]  # fmt: skip
        return _outcomes(outcomes)

    @extend_schema(request=AlertmanagerPayloadSerializer, responses=AlertOutcomesSerializer)
    @action(detail=False, methods=["post"])
    def alertmanager(self, request: Request) -> Response:
        """Point an Alertmanager ``webhook_configs`` receiver here, with a bearer token of a service account."""
        return _outcomes(services.alertmanager_receive(actor=request.user, payload=request.data))
