"""clear_cache and reset_connection act on a real Redis and a real PostgreSQL; their dry runs touch nothing."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection

from core314.models import AuditLogEntry
from core314.services import DomainError, PermissionDeniedError
from recovery import services
from recovery.executors.base import ParameterError
from recovery.executors.data import ClearCache, ResetConnection
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cache_db() -> Any:
    """Redis database 15 of the test server, emptied before and after."""
    url = settings.REDIS_URL.rsplit("/", 1)[0] + "/15"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url, client
    client.flushdb()
    client.close()


def test_clear_cache_deletes_the_prefix_and_nothing_else(admin: Any, cache_db: Any) -> None:
    # The only Redis here is the platform's own: only an administrator's component may reach it.
    url, client = cache_db
    for i in range(1200):
        client.set(f"sessions:{i}", "x")
    client.set("config:flags", "keep me")
    component = ComponentFactory(owner=admin)
    actuator = services.actuator_save(actor=admin, component=component, kind="cache", config={"url": url})
    context = {"actuator": {"kind": actuator.kind, "config": actuator.config}, "privileged": True}
    executor = ClearCache()
    params = executor.clean({"prefix": "sessions:"})
    plan = executor.plan(params, context)
    assert plan.steps == ["delete the keys starting with 'sessions:' in the Redis database at the actuator's URL"]
    assert client.dbsize() == 1201  # the dry run deleted nothing
    result = executor.execute(params, context, timeout_s=5)
    assert result.ok and result.details == {"deleted": 1200}
    assert client.dbsize() == 1 and client.get("config:flags") == b"keep me"


def test_clear_cache_parameters_are_checked() -> None:
    with pytest.raises(ParameterError, match="prefix"):
        ClearCache().clean({"prefix": "sess*"})
    with pytest.raises(ParameterError, match="all=true"):
        ClearCache().clean({})


def test_reset_connection_terminates_the_sessions_it_names(admin: Any) -> None:
    # The only PostgreSQL here is the platform's own: only an administrator's component may reach it.
    params = connection.get_connection_params()
    host, port = params.get("host", "127.0.0.1"), params.get("port", 5432)
    dsn = f"postgresql://{params.get('user', 'postgres')}@{host}:{port}/{params['dbname']}"
    victim = psycopg.connect(dsn, application_name="leaky-worker")
    bystander = psycopg.connect(dsn, application_name="healthy-app")
    try:
        component = ComponentFactory(owner=admin)
        actuator = services.actuator_save(actor=admin, component=component, kind="postgres", config={"dsn": dsn})
        context = {"actuator": {"kind": actuator.kind, "config": actuator.config}, "privileged": True}
        executor = ResetConnection()
        chosen = executor.clean({"application_name": "leaky-worker", "idle_in_transaction": False})
        plan = executor.plan(chosen, context)
        assert plan.details == {"sessions": 1} and "leaky-worker" in plan.steps[0]
        assert victim.execute("SELECT 1").fetchone() == (1,)  # the dry run terminated nothing
        result = executor.execute(chosen, context, timeout_s=5)
        assert result.ok and len(result.details["pids"]) == 1
        time.sleep(0.2)
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")
        assert bystander.execute("SELECT 1").fetchone() == (1,)
    finally:
        victim.close()
        bystander.close()


def test_actuators_are_validated_audited_and_partly_admin_only(owner: Any, admin: Any, api_for: Any) -> None:
    component = ComponentFactory(owner=owner)
    with pytest.raises(DomainError, match="redis"):
        services.actuator_save(actor=owner, component=component, kind="cache", config={"url": "http://x"})
    with pytest.raises(DomainError, match="secret"):
        services.actuator_save(actor=owner, component=component, kind="webhook",
                               config={"url": "https://deploy.example/hook", "secret": "short"})  # fmt: skip
    with pytest.raises(PermissionDeniedError, match="administrators"):
        services.actuator_save(actor=owner, component=component, kind="process", config={})
    services.actuator_save(actor=owner, component=component, kind="webhook",
                           config={"url": "https://deploy.example/hook", "secret": "s" * 20})  # fmt: skip
    entry = AuditLogEntry.objects.get(action="actuator.save")
    assert "s" * 20 not in str(entry.after)
    listed = api_for(owner).get("/api/v1/actuators/").content.decode()
    assert "s" * 20 not in listed and "deploy.example" in listed
