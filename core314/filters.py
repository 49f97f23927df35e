"""Filters of the platform's own lists, shared by their pages and their API endpoints."""

from __future__ import annotations

import django_filters

from core314 import selectors
from core314.filtering import scoped_choices
from core314.models import ApiToken, AuditLogEntry, ServiceAccount


class AuditLogFilter(django_filters.FilterSet):
    action__startswith = django_filters.CharFilter(
        field_name="action", lookup_expr="startswith", label="Action starts with", max_length=100
    )

    class Meta:
        model = AuditLogEntry
        fields = {
            "action": ["exact"],
            "object_type": ["exact"],
            "object_id": ["exact"],
            "actor_kind": ["exact"],
            "created_at": ["gte", "lt"],
        }


class ServiceAccountFilter(django_filters.FilterSet):
    class Meta:
        model = ServiceAccount
        fields = ["is_active", "write_enabled"]


class TokenFilter(django_filters.FilterSet):
    service_account = django_filters.ModelChoiceFilter(
        queryset=scoped_choices(selectors.service_account_list), label="Service account"
    )

    class Meta:
        model = ApiToken
        fields: list[str] = []
