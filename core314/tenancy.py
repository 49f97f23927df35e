"""Row-level security for owned tables: one rule, used by every page, API, socket, export and admin.

A user sees the rows they own; an administrator (staff or superuser) sees every row; a service account
acts for the user it belongs to. Anything else, anonymous or inactive, sees nothing (fail closed).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

    Actor = AbstractBaseUser | AnonymousUser | None
else:
    Actor = Any  # the annotation only matters to type checkers

ADMINS_GROUP = "admins"


def is_admin(actor: Actor) -> bool:
    return bool(
        actor is not None
        and getattr(actor, "is_authenticated", False)
        and actor.is_active
        and (getattr(actor, "is_staff", False) or getattr(actor, "is_superuser", False))
        and not is_service_account(actor)
    )


def is_service_account(actor: Actor) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False) and hasattr(actor, "service_account")


def effective_owner_id(actor: Actor) -> int | None:
    """The id of the user whose rows ``actor`` acts on, or None when it may act on nothing."""
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return None
    account = getattr(actor, "service_account", None)
    if account is not None:
        owner = account.owner
        return owner.pk if owner.is_active and account.is_active else None
    pk: int = actor.pk
    return pk


def acting_user(actor: Actor) -> User | None:
    """The user a ``*_by`` column records for ``actor``: the signed-in user, or None (a platform task)."""
    return actor if isinstance(actor, get_user_model()) else None


def effective_owner(actor: Actor) -> Any:
    """The user that owns what ``actor`` creates (the owner of a service account, else the actor)."""
    account = getattr(actor, "service_account", None)
    return account.owner if account is not None else actor


_M = TypeVar("_M", bound=models.Model)


class OwnedQuerySet(models.QuerySet[_M]):
    # Set by visible_to and carried through every clone, so an interface can check that the queryset it was
    # handed was scoped (the API base class refuses one that was not: fail closed, not open).
    _scoped = False

    def _clone(self) -> Self:
        clone: Self = super()._clone()  # type: ignore[misc]  # Django's private clone hook
        clone._scoped = self._scoped
        return clone

    def visible_to(self, actor: Actor) -> Self:
        if is_admin(actor):
            scoped = self.all()
        else:
            owner_id = effective_owner_id(actor)
            scoped = self.none() if owner_id is None else self.filter(owner_id=owner_id)
        scoped._scoped = True
        return scoped

    @property
    def is_scoped(self) -> bool:
        return self._scoped


class OwnedModel(models.Model):
    """Base for every table whose rows belong to one user."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        abstract = True


OM = TypeVar("OM", bound=OwnedModel)


def get_visible_or_404(model: type[OM] | models.QuerySet[OM], actor: Actor, **lookup: Any) -> OM:
    """Fetch one row the actor may see; a row outside its scope is a 404, never a 403."""
    # Every owned table's managers are built from OwnedQuerySet (selectors return their querysets).
    queryset = cast("OwnedQuerySet[OM]", model if isinstance(model, models.QuerySet) else model._default_manager.all())
    try:
        return queryset.visible_to(actor).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError) as exc:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from exc


V = TypeVar("V", bound=Callable[..., HttpResponse])


def owned(
    model: type[OwnedModel],
    name: str | None,
    *,
    queryset: Callable[[Actor], models.QuerySet[Any]] | None = None,
    url_kwarg: str = "pk",
) -> Callable[[V], V]:
    """A page that acts on one owned row: the row named by the URL is fetched through ``visible_to`` (a
    row outside the caller's scope is a 404) and passed to the view as ``name``. ``queryset`` (a selector
    taking the actor) adds its joins. ``name=None`` marks a page whose URL names its rows otherwise (a check's
    history, by check name) and which reads them through scoped selectors itself. The tenancy test finds
    every such page through ``owned_model``."""

    def decorate(view: V) -> V:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if name is None:
                return view(request, *args, **kwargs)
            lookup = kwargs.pop(url_kwarg)
            source = queryset(request.user) if queryset is not None else model
            kwargs[name] = get_visible_or_404(source, request.user, pk=lookup)
            return view(request, *args, **kwargs)

        wrapper.__dict__["owned_model"] = model
        return wrapper  # type: ignore[return-value]  # same call signature as far as URLs are concerned

    return decorate


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def groups_for(actor: Actor) -> list[str]:
    """The live-update groups a connected actor joins."""
    owner_id = effective_owner_id(actor)
    if owner_id is None:
        return []
    groups = [user_group(owner_id)]
    if is_admin(actor):
        groups.append(ADMINS_GROUP)
    return groups


def groups_for_row(row: models.Model) -> list[str]:
    """The live-update groups that may see ``row``: its owner's and the administrators'."""
    owner_id = getattr(row, "owner_id", None)
    groups = [ADMINS_GROUP]
    if owner_id is not None:
        groups.insert(0, user_group(owner_id))
    return groups
