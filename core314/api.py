"""API plumbing shared by every app: the tenancy-enforcing base viewset and the error format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core314 import selectors, services
from core314.filters import AuditLogFilter, ServiceAccountFilter, TokenFilter
from core314.models import ApiToken, AuditLogEntry, ServiceAccount
from core314.services import DomainError
from core314.tenancy import OwnedQuerySet, effective_owner


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus domain errors (400/403/409) and model validation errors (400) with a message."""
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"detail": str(exc)}
        errors = getattr(exc, "errors", None)
        if errors:
            body["errors"] = errors
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)


_MT = TypeVar("_MT", bound=Model)


class OwnedViewSetMixin(generics.GenericAPIView[_MT]):
    """Every API viewset over an owned table derives from this; the scope is applied here, not per view.

    The list comes from the same selector the page reads (``selector``, called with the request's actor), and
    the base class refuses a queryset that did not pass through ``visible_to`` (fail closed). So a row outside
    the caller's scope is a 404 on detail routes and absent from lists. The list's ``filterset_class`` is the
    one its page uses.
    """

    selector: Callable[..., QuerySet[_MT]]

    def get_queryset(self) -> QuerySet[_MT]:
        selector = getattr(type(self), "selector", None)
        if selector is None:
            raise ImproperlyConfigured(f"{type(self).__name__} reads no selector")
        queryset: QuerySet[_MT] = selector(actor=self.request.user)
        if not getattr(queryset, "is_scoped", False):
            raise ImproperlyConfigured(f"{type(self).__name__}'s selector does not scope through visible_to")
        return queryset

    def get_serializer(self, *args: Any, **kwargs: Any) -> serializers.BaseSerializer[_MT]:
        """Related fields that point at owned tables accept only rows the caller may see (as netbox's
        base classes do), so a client cannot attach its row to someone else's component."""
        serializer = super().get_serializer(*args, **kwargs)
        for field in getattr(serializer, "fields", {}).values():
            related = getattr(field, "child_relation", field)
            model = getattr(getattr(related, "queryset", None), "model", None)  # a manager or a queryset
            if model is not None and isinstance(model._default_manager.all(), OwnedQuerySet):
                related.queryset = model._default_manager.visible_to(self.request.user)
        return serializer


class OwnedReadOnlyViewSet(OwnedViewSetMixin[_MT], viewsets.ReadOnlyModelViewSet[_MT]):
    pass


class OwnedGenericViewSet(OwnedViewSetMixin[_MT], viewsets.GenericViewSet[_MT]):
    pass


# --- Audit log ---------------------------------------------------------------------------------------


class AuditLogEntrySerializer(serializers.ModelSerializer[AuditLogEntry]):
    class Meta:
        model = AuditLogEntry
        fields = [
            "id",
            "created_at",
            "owner",
            "actor",
            "actor_kind",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "reason",
        ]
        read_only_fields = fields


class AuditLogViewSet(OwnedReadOnlyViewSet[AuditLogEntry]):
    """The decision audit log: who changed what, when and why. Read-only."""

    queryset = AuditLogEntry.objects.all()
    selector = staticmethod(selectors.audit_log_list)
    serializer_class = AuditLogEntrySerializer
    filterset_class = AuditLogFilter
    ordering_fields = ["created_at"]


# --- Service accounts and tokens ---------------------------------------------------------------------


class ServiceAccountSerializer(serializers.ModelSerializer[ServiceAccount]):
    class Meta:
        model = ServiceAccount
        fields = ["id", "owner", "name", "description", "write_enabled", "is_active", "created_at"]
        read_only_fields = ["id", "owner", "is_active", "created_at"]


class TokenSerializer(serializers.ModelSerializer[ApiToken]):
    class Meta:
        model = ApiToken
        fields = [
            "id",
            "service_account",
            "name",
            "key_id",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = ["id", "service_account", "key_id", "created_at", "last_used_at", "revoked_at"]


class IssuedTokenSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]


class ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ServiceAccountViewSet(
    OwnedViewSetMixin[ServiceAccount],
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[ServiceAccount],
):
    """Service accounts act for their owner through tokens. Only humans manage them."""

    queryset = ServiceAccount.objects.all()
    selector = staticmethod(selectors.service_account_list)
    serializer_class = ServiceAccountSerializer
    pagination_class = None
    filterset_class = ServiceAccountFilter
    ordering_fields = ["name", "created_at"]

    def perform_create(self, serializer: serializers.BaseSerializer[ServiceAccount]) -> None:
        data = serializer.validated_data
        serializer.instance = services.service_account_create(
            actor=self.request.user,
            owner=effective_owner(self.request.user),
            name=data["name"],
            description=data.get("description", ""),
            write_enabled=data.get("write_enabled", True),
        )

    @action(detail=True, methods=["post"], serializer_class=ReasonSerializer)
    def deactivate(self, request: Request, pk: str | None = None) -> Response:
        account = self.get_object()
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account = services.service_account_deactivate(
            actor=request.user, account=account, reason=body.validated_data["reason"]
        )
        return Response(ServiceAccountSerializer(account).data)

    @action(detail=True, methods=["post"], serializer_class=TokenSerializer)
    def tokens(self, request: Request, pk: str | None = None) -> Response:
        """Issue a token for this account. The response holds the token; it is never shown again."""
        account = self.get_object()
        body = TokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        issued = services.api_token_create(
            actor=request.user,
            service_account=account,
            name=body.validated_data.get("name", ""),
            expires_at=body.validated_data.get("expires_at"),
        )
        data = IssuedTokenSerializer(issued.token).data | {"token": issued.plaintext}
        return Response(data, status=status.HTTP_201_CREATED)


class TokenViewSet(OwnedReadOnlyViewSet[ApiToken]):
    queryset = ApiToken.objects.all()
    selector = staticmethod(selectors.api_token_list)
    serializer_class = TokenSerializer
    filterset_class = TokenFilter
    ordering_fields = ["created_at"]

    @action(detail=True, methods=["post"], serializer_class=ReasonSerializer)
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        token = self.get_object()
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token = services.api_token_revoke(actor=request.user, token=token, reason=body.validated_data["reason"])
        return Response(TokenSerializer(token).data)
