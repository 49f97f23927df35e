"""Admin for the platform's own models, and the mixin every owned model's admin uses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from core314 import services
from core314.lockout import LockoutAdminAuthenticationForm
from core314.models import ApiToken, AuditLogEntry, IdempotencyKey, ServiceAccount
from core314.services import DomainError
from core314.tenancy import OwnedQuerySet


class _DryRun(Exception):
    """Raised inside the form's check so the service's writes are rolled back."""


if TYPE_CHECKING:
    # For the type checker the mixin is the ModelAdmin it is always mixed into, so its super() calls are typed.
    _AdminBase = admin.ModelAdmin[Any]
else:
    _AdminBase = object


class OwnedAdminMixin(_AdminBase):
    """Scopes an owned model's admin through ``visible_to``, and lets rows change only through services.

    An admin that may add or change rows says how in ``save_through_service`` (returning the saved row); its
    form first runs that service inside a rolled-back savepoint, so whatever the service refuses (the same
    checks the API makes) shows on the form as an error instead of failing the save. An admin without it
    shows rows read-only. ``deletable`` admins delete through ``owned_row_delete`` (audited, pushed live).
    """

    deletable = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return cast(OwnedQuerySet[Any], super().get_queryset(request)).visible_to(request.user)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if hasattr(related._default_manager.all(), "visible_to"):
            kwargs["queryset"] = related._default_manager.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if hasattr(related._default_manager.all(), "visible_to"):
            kwargs["queryset"] = related._default_manager.visible_to(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # --- Changes go through services ---------------------------------------------------------------------

    def save_through_service(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> models.Model:
        raise NotImplementedError

    def _saves(self) -> bool:
        return type(self).save_through_service is not OwnedAdminMixin.save_through_service

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._saves() and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._saves() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.deletable and super().has_delete_permission(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        model_admin = self

        class ServiceCheckedForm(form_class):  # type: ignore[misc,valid-type]  # built per request, as Django does
            def _post_clean(self) -> None:
                super()._post_clean()
                if self.errors or not model_admin._saves():
                    return
                try:
                    with transaction.atomic():
                        model_admin.save_through_service(request, self.instance, self, change)
                        raise _DryRun
                except _DryRun:
                    pass
                except DomainError as exc:
                    # A refusal that names its field (a FieldError: "config.url") is shown at that field.
                    named = str(getattr(exc, "field", "")).split(".", 1)[0]
                    self.add_error(named if named in self.fields else None, str(exc))

        return ServiceCheckedForm

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        saved = self.save_through_service(request, obj, form, change)
        obj.pk = saved.pk
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: ModelForm[Any], formsets: Any, change: bool) -> None:
        """The service set the row's relations (and audited them); the form's own m2m save would not."""
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.owned_row_delete(actor=request.user, row=obj, reason="deleted in the admin")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            services.owned_row_delete(actor=request.user, row=obj, reason="bulk delete in the admin")


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(OwnedAdminMixin, admin.ModelAdmin[AuditLogEntry]):
    list_display = [
        "created_at",
        "actor_label",
        "actor_kind",
        "action",
        "object_type",
        "object_repr",
        "owner",
    ]
    list_filter = ["actor_kind", "object_type", "created_at"]
    search_fields = ["action", "object_repr", "object_id", "actor_label", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]

    # The audit log is append-only: nobody edits or deletes it through the admin.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


TOKEN_FIELDS = ["name", "key_id", "created_at", "expires_at", "last_used_at", "revoked_at"]


class ApiTokenInline(admin.TabularInline[ApiToken, ServiceAccount]):
    model = ApiToken
    extra = 0
    fields = ("name", "key_id", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = TOKEN_FIELDS
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ServiceAccount)
class ServiceAccountAdmin(admin.ModelAdmin[ServiceAccount]):
    list_display = ["name", "owner", "write_enabled", "is_active", "created_at"]
    list_filter = ["write_enabled", "is_active"]
    search_fields = ["name", "owner__username", "description"]
    readonly_fields = ["is_active", "created_at"]
    inlines = [ApiTokenInline]
    actions = ["issue_token", "deactivate"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return ServiceAccount.objects.visible_to(request.user).select_related("owner")

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        if change:
            services.service_account_update(
                actor=request.user, account=obj, description=obj.description, write_enabled=obj.write_enabled
            )
            return
        # Creating an account also creates its identity; the service does both and audits it.
        created = services.service_account_create(
            actor=request.user,
            owner=form.cleaned_data.get("owner") or request.user,
            name=obj.name,
            description=obj.description,
            write_enabled=obj.write_enabled,
        )
        obj.pk = created.pk
        obj.user = created.user

    @admin.action(description="Issue a new token (shown once)")
    def issue_token(self, request: HttpRequest, queryset: QuerySet[ServiceAccount]) -> None:
        for account in queryset:
            try:
                issued = services.api_token_create(actor=request.user, service_account=account, name="admin")
            except services.DomainError as exc:
                self.message_user(request, f"{account.name}: {exc}", messages.ERROR)
                continue
            self.message_user(
                request, f"Token for {account.name} (copy it now, it is not shown again): {issued.plaintext}"
            )

    @admin.action(description="Deactivate and revoke all tokens")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[ServiceAccount]) -> None:
        for account in queryset:
            services.service_account_deactivate(actor=request.user, account=account, reason="admin action")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = [
        "key_id",
        "service_account",
        "name",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at", "created_at"]
    search_fields = ["key_id", "name", "service_account__name"]
    readonly_fields = ["service_account", "key_id", "created_at", "last_used_at", "revoked_at"]
    date_hierarchy = "created_at"
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return ApiToken.objects.visible_to(request.user).select_related("service_account")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are issued from a service account, so the plaintext can be shown once

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            services.api_token_revoke(actor=request.user, token=token, reason="admin action")


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(OwnedAdminMixin, admin.ModelAdmin[IdempotencyKey]):
    list_display = ["created_at", "scope", "key", "response_status", "owner"]
    list_filter = ["scope", "response_status"]
    search_fields = ["key", "scope"]
    date_hierarchy = "created_at"


class UserAdmin(DjangoUserAdmin[Any]):
    """Django's user admin, except that a new account is made by the service (audited, and the apps set up
    what a new user starts with)."""

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        if change:
            services.user_save(actor=request.user, user=obj, changed=list(form.changed_data))
            return
        created = services.user_create(
            actor=request.user,
            username=obj.username,
            password=form.cleaned_data.get("password1") or None,
            email=obj.email,
            is_staff=obj.is_staff,
            is_superuser=obj.is_superuser,
        )
        obj.pk = created.pk
        obj.password = created.password
        obj._state.adding = False


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UserAdmin)
# The admin's sign-in page shares the lockout of the login page (core314.lockout).
admin.site.login_form = LockoutAdminAuthenticationForm
