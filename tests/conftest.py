"""The fixed cast: ``owner`` (alice), ``other_user`` (bob), ``admin``, ``service_account`` (alice's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core314 import services
from core314.models import ServiceAccount
from tests.endpoints import Endpoint
from tests.factories import UserFactory


@pytest.fixture
def owner(db: Any) -> Any:
    return UserFactory(username="alice")


@pytest.fixture
def other_user(db: Any) -> Any:
    return UserFactory(username="bob")


@pytest.fixture
def admin(db: Any) -> Any:
    return services.user_create(
        actor=None, username="root", email="root@example.com", password="pw-for-tests", is_superuser=True
    )


@dataclass
class ServiceAccountWithToken:
    account: ServiceAccount
    token: str

    @property
    def user(self) -> Any:
        return self.account.user


@pytest.fixture
def service_account(owner: Any) -> ServiceAccountWithToken:
    account = services.service_account_create(actor=owner, owner=owner, name="alice-agent")
    issued = services.api_token_create(actor=owner, service_account=account, name="tests")
    return ServiceAccountWithToken(account=account, token=issued.plaintext)


@pytest.fixture
def client_for() -> Any:
    """A logged-in page client for a user (None: anonymous)."""

    def make(user: Any) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def api_for() -> Any:
    """An API client: a user logs in by session; a ServiceAccountWithToken uses its bearer token."""

    def make(who: Any) -> APIClient:
        client = APIClient()
        if isinstance(who, ServiceAccountWithToken):
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {who.token}")
        elif who is not None:
            client.force_login(who)
        return client

    return make


def _uses_database(request: Any) -> bool:
    names = set(request.fixturenames)
    return bool(request.node.get_closest_marker("django_db") or names & {"db", "transactional_db", "django_db_setup"})


@pytest.fixture(autouse=True)
def _clean_platform_redis_keys(request: Any) -> Any:
    """Heartbeats and metrics live in Redis; each database test starts from an empty key space of its own.
    Pure unit tests touch no server at all, so they run with PostgreSQL and Redis stopped."""
    if _uses_database(request):
        from django.conf import settings

        from core314.redis import get_redis

        client = get_redis()
        for key in client.scan_iter(f"{settings.REDIS_PREFIX}:*"):
            client.delete(key)
    yield


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Fast tests first; the ones that drive a live stack or a browser last."""
    slow = {"e2e": 2, "browser": 1}
    items.sort(key=lambda item: max((slow.get(m.name, 0) for m in item.iter_markers()), default=0))


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> Any:
    """pytest-django's test database, and before it is dropped: end sessions other processes or threads left
    behind (the daphne server of the browser tests, channels' worker threads), so teardown drops it cleanly.
    Only tests that use the database ask for it."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def endpoint() -> Iterator[str]:
    """A local webhook receiver that checks the HMAC signature; its URL."""
    Endpoint.received, Endpoint.status, Endpoint.delay_s = [], 200, 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/heal"
    server.shutdown()
    server.server_close()
