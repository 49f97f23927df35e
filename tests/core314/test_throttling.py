"""The API is throttled per token and per user (a 429 with a JSON message and Retry-After); sign-in locks an
account out, from one address, after repeated failures, and says so."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from core314 import services

pytestmark = pytest.mark.django_db

LIST = "/api/v1/components/"


def test_a_burst_from_one_token_gets_429_with_retry_after(
    api_for: Any, service_account: Any, owner: Any, settings: Any
) -> None:
    settings.CORE314_API_RATE = "5/min"
    api = api_for(service_account)
    answers = [api.get(LIST) for _ in range(7)]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    refused = answers[5]
    assert refused.status_code == 429 and "throttled" in refused.json()["detail"].lower()
    assert 1 <= int(refused["Retry-After"]) <= 60
    # Another token of the same user has its own budget...
    other = services.api_token_create(actor=owner, service_account=service_account.account, name="second")
    client = api_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other.plaintext}")
    assert client.get(LIST).status_code == 200


def test_a_user_is_throttled_across_sessions_and_tokens(
    api_for: Any, service_account: Any, owner: Any, other_user: Any, settings: Any
) -> None:
    settings.CORE314_API_USER_RATE = "4/min"
    person, robot = api_for(owner), api_for(service_account)
    statuses = [c.get(LIST).status_code for c in (person, robot, person, robot, person)]
    assert statuses == [200, 200, 200, 200, 429]
    assert robot.get(LIST).status_code == 429  # the token acts for alice: her budget is spent
    assert api_for(other_user).get(LIST).status_code == 200  # bob's is his own


def _login(client: Client, username: str, password: str, address: str = "10.1.1.1") -> Any:
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_repeated_failed_sign_ins_lock_the_account_out_from_that_address(settings: Any) -> None:
    settings.CORE314_LOGIN_MAX_FAILURES = 3
    services.user_create(actor=None, username="carol", password="right-password-1")
    client = Client()
    for _ in range(3):
        failed = _login(client, "carol", "wrong")
        assert failed.status_code == 200 and "correct username and password" in failed.content.decode()
    locked = _login(client, "carol", "right-password-1")
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert "Too many failed sign-ins" in locked.content.decode()
    # The admin's sign-in page shares the lock.
    admin_login = client.post(
        "/admin/login/", {"username": "carol", "password": "right-password-1"}, REMOTE_ADDR="10.1.1.1"
    )
    assert "Too many failed sign-ins" in admin_login.content.decode()
    # Another address is not locked out (nor is another account from this one).
    assert _login(Client(), "carol", "right-password-1", address="10.2.2.2").status_code == 302
    assert _login(client, "dave", "whatever").status_code == 200
