"""State changes of the platform's own objects: service accounts and their API tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone

from core314.changes import record_change
from core314.models import ApiToken, ServiceAccount
from core314.tenancy import Actor, is_admin, is_service_account

# last_used_at is written at most this often per token, so that reads do not turn into writes.
TOKEN_TOUCH_INTERVAL = timedelta(seconds=60)


class DomainError(Exception):
    """A request the domain refuses; interfaces map it to 400 (or the status set on the subclass)."""

    status_code = 400


class PermissionDeniedError(DomainError):
    status_code = 403


class ConflictError(DomainError):
    status_code = 409


class FieldError(DomainError):
    """A value refused, naming its field: the API answers 400 with ``errors: {field: [message]}``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.errors = {field: [message]}


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str


def _require_human_owner_or_admin(actor: Actor, owner: Any) -> None:
    if is_service_account(actor):
        raise PermissionDeniedError("Service accounts cannot manage service accounts or tokens.")
    if not (is_admin(actor) or (actor is not None and actor.pk == owner.pk)):
        raise PermissionDeniedError("You can only manage your own service accounts.")


@transaction.atomic
def owned_row_delete(*, actor: Actor, row: models.Model, reason: str = "") -> None:
    """Delete an owned row (a component, a probe, a silence…): audited, and pages showing it are told."""
    label = row._meta.model_name
    record_change(
        actor=actor,
        action=f"{label}.delete",
        target=row,
        before={"repr": str(row)[:200]},
        reason=reason,
        event=f"{label}.deleted",
    )
    row.delete()


@transaction.atomic
def user_create(
    *,
    actor: Actor,
    username: str,
    password: str | None = None,
    email: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> Any:
    """Create a person's account; the apps set up what a new user starts with (``user_created``)."""
    from core314.signals import user_created

    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise ConflictError(f"A user named {username!r} already exists.")
    user = user_model(username=username, email=email, is_staff=is_staff or is_superuser, is_superuser=is_superuser)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    record_change(
        actor=actor,
        action="user.create",
        target=user,
        owner=user,
        after={"username": username, "is_staff": user.is_staff, "is_superuser": is_superuser},
    )
    # Inside the transaction: a user is never left without what they start with.
    user_created.send(sender=user_model, user=user)
    return user


@transaction.atomic
def user_save(*, actor: Actor, user: Any, changed: list[str]) -> Any:
    """Save a person's account as an administrator edited it (names, flags, password); audited, never the
    password itself."""
    if not is_admin(actor):
        raise PermissionDeniedError("Only administrators change accounts.")
    user.save()
    shown = [name for name in changed if "password" not in name]
    record_change(
        actor=actor,
        action="user.update",
        target=user,
        owner=user,
        after={name: str(getattr(user, name, "")) for name in shown}
        | ({"password": "changed"} if len(shown) < len(changed) else {}),
    )
    return user


@transaction.atomic
def service_account_create(
    *, actor: Actor, owner: Any, name: str, description: str = "", write_enabled: bool = True
) -> ServiceAccount:
    _require_human_owner_or_admin(actor, owner)
    if ServiceAccount.objects.filter(owner=owner, name=name).exists():
        raise ConflictError(f"A service account named {name!r} already exists.")
    user_model = get_user_model()
    user = user_model(username=f"sa-{owner.pk}-{name}"[:150], is_active=True)
    user.set_unusable_password()  # it signs in with tokens only, never with the login page
    user.save()
    account = ServiceAccount.objects.create(
        owner=owner, user=user, name=name, description=description, write_enabled=write_enabled
    )
    record_change(
        actor=actor,
        action="service_account.create",
        target=account,
        after={"name": name, "write_enabled": write_enabled},
        event="service_account.created",
        data={"name": name},
    )
    return account


@transaction.atomic
def service_account_update(
    *, actor: Actor, account: ServiceAccount, description: str | None = None, write_enabled: bool | None = None
) -> ServiceAccount:
    _require_human_owner_or_admin(actor, account.owner)
    account = ServiceAccount.objects.select_for_update().get(pk=account.pk)
    before = {"description": account.description, "write_enabled": account.write_enabled}
    if description is not None:
        account.description = description[:300]
    if write_enabled is not None:
        account.write_enabled = write_enabled
    account.save(update_fields=["description", "write_enabled"])
    record_change(
        actor=actor,
        action="service_account.update",
        target=account,
        before=before,
        after={"description": account.description, "write_enabled": account.write_enabled},
    )
    return account


@transaction.atomic
def service_account_deactivate(*, actor: Actor, account: ServiceAccount, reason: str = "") -> ServiceAccount:
    _require_human_owner_or_admin(actor, account.owner)
    account = ServiceAccount.objects.select_for_update().get(pk=account.pk)
    account.is_active = False
    account.save(update_fields=["is_active"])
    revoked = ApiToken.objects.filter(service_account=account, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    record_change(
        actor=actor,
        action="service_account.deactivate",
        target=account,
        before={"is_active": True},
        after={"is_active": False, "tokens_revoked": revoked},
        reason=reason,
    )
    return account


@transaction.atomic
def api_token_create(
    *, actor: Actor, service_account: ServiceAccount, name: str = "", expires_at: datetime | None = None
) -> IssuedToken:
    """Issue a token. The plaintext is returned here once and never stored."""
    _require_human_owner_or_admin(actor, service_account.owner)
    if not service_account.is_active:
        raise ConflictError("The service account is deactivated.")
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError("expires_at must be in the future.")
    key_id = secrets.token_hex(6)
    plaintext = f"{ApiToken.PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        owner=service_account.owner,
        service_account=service_account,
        name=name,
        key_id=key_id,
        key_hash=ApiToken.hash_key(plaintext),
        expires_at=expires_at,
    )
    record_change(
        actor=actor,
        action="api_token.create",
        target=token,
        after={"service_account": service_account.name, "key_id": key_id, "expires_at": str(expires_at)},
    )
    return IssuedToken(token=token, plaintext=plaintext)


@transaction.atomic
def api_token_revoke(*, actor: Actor, token: ApiToken, reason: str = "") -> ApiToken:
    _require_human_owner_or_admin(actor, token.owner)
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return token  # revoking twice is harmless and changes nothing
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    record_change(
        actor=actor,
        action="api_token.revoke",
        target=token,
        before={"revoked_at": None},
        after={"revoked_at": token.revoked_at.isoformat()},
        reason=reason,
    )
    return token


def api_token_authenticate(*, plaintext: str) -> ApiToken | None:
    """The usable token matching ``plaintext``, or None. Updates last_used_at at most once a minute."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != ApiToken.PREFIX:
        return None
    token = (
        ApiToken.objects.select_related("service_account__user", "service_account__owner")
        .filter(key_id=parts[1])
        .first()
    )
    if token is None or not token.matches(plaintext) or not token.is_usable:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_TOUCH_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
