from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from core314.tenancy import groups_for, groups_for_row
from health.models import Component
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db


def test_visible_to_follows_the_rules(owner: Any, other_user: Any, admin: Any, service_account: Any) -> None:
    mine = ComponentFactory(owner=owner)
    theirs = ComponentFactory(owner=other_user)
    assert list(Component.objects.visible_to(owner)) == [mine]
    assert list(Component.objects.visible_to(other_user)) == [theirs]
    assert set(Component.objects.visible_to(admin)) == {mine, theirs}
    assert list(Component.objects.visible_to(service_account.user)) == [mine]
    assert list(Component.objects.visible_to(AnonymousUser())) == []
    assert list(Component.objects.visible_to(None)) == []


def test_it_fails_closed_for_inactive_users_and_accounts(owner: Any, service_account: Any) -> None:
    ComponentFactory(owner=owner)
    service_account.account.is_active = False
    service_account.account.save()
    assert not Component.objects.visible_to(service_account.user).exists()
    owner.is_active = False
    owner.save()
    assert not Component.objects.visible_to(owner).exists()


def test_a_staff_service_account_is_still_only_its_owner(owner: Any, other_user: Any, service_account: Any) -> None:
    ComponentFactory(owner=other_user)
    service_account.user.is_staff = True
    service_account.user.save()
    assert not Component.objects.visible_to(service_account.user).exists()


def test_live_groups_match_visibility(owner: Any, admin: Any, service_account: Any) -> None:
    row = ComponentFactory(owner=owner)
    assert groups_for(owner) == [f"user.{owner.pk}"]
    assert groups_for(service_account.user) == [f"user.{owner.pk}"]
    assert groups_for(admin) == [f"user.{admin.pk}", "admins"]
    assert groups_for(AnonymousUser()) == []
    assert groups_for_row(row) == [f"user.{owner.pk}", "admins"]
