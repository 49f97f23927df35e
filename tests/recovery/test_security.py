"""Issue 15 ("Hard to break"), the recovery side: approvals are a person's act; actuators never reach the
platform's own Redis, database or caches; outbound calls pass the egress guard."""

from __future__ import annotations

from typing import Any

import pytest

from core314.services import PermissionDeniedError
from recovery import services
from recovery.models import RecoveryAction
from tests.recovery.test_engine import _setup, _signal

pytestmark = pytest.mark.django_db

ACTIONS = "/api/v1/recovery-actions/"


def test_a_service_account_cannot_approve_an_action(
    owner: Any, service_account: Any, api_for: Any, endpoint: str
) -> None:
    component = _setup(owner, endpoint, mode="approval")
    action = services.heal_signal(signal_id=_signal(component).pk).action
    assert action.status == "pending_approval"
    with pytest.raises(PermissionDeniedError, match="person"):
        services.action_approve(actor=service_account.user, action=action)
    response = api_for(service_account).post(f"{ACTIONS}{action.pk}/approve/", {"reason": "lgtm"}, format="json")
    assert response.status_code == 403 and "person" in response.json()["detail"]
    assert RecoveryAction.objects.get(pk=action.pk).status == "pending_approval"
