from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request


class ServiceAccountWriteAccess(permissions.BasePermission):
    """A read-only service account's token may only read."""

    message = "This service account is read-only."

    def has_permission(self, request: Request, view: Any) -> bool:
        account = getattr(request.user, "service_account", None)
        if account is None or request.method in permissions.SAFE_METHODS:
            return True
        return bool(account.write_enabled)


class AdminOnly(permissions.BasePermission):
    message = "Administrators only."

    def has_permission(self, request: Request, view: Any) -> bool:
        from core314.tenancy import is_admin

        return is_admin(request.user)
