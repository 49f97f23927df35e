"""The project as an operator meets it: embedded servers, production settings, the bootstrap command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

ROOT = Path(settings.BASE_DIR)


@pytest.mark.embedded
def test_embedded_postgres_and_redis_start_serve_and_stop(tmp_path: Path) -> None:
    """With DATABASE_URL / REDIS_URL unset, `exec` starts real servers, hands their URLs on and stops them."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        CORE314_DATA_DIR=str(tmp_path / "data"),
        CORE314_EMBEDDED_PG_PORT="54391",
        CORE314_EMBEDDED_REDIS_PORT="63791",
    )
    probe = (
        "import os, psycopg, redis;"
        "print(psycopg.connect(os.environ['DATABASE_URL']).execute('SELECT version()').fetchone()[0]);"
        "print(redis.Redis.from_url(os.environ['REDIS_URL']).ping());"
        "print(os.environ['DATABASE_URL'], os.environ['REDIS_URL'])"
    )
    result = subprocess.run(
        [sys.executable, "-m", "core314.embedded", "exec", "--", sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "PostgreSQL" in result.stdout
    assert "True" in result.stdout
    assert "127.0.0.1:54391/core314" in result.stdout and "127.0.0.1:63791" in result.stdout
    status = subprocess.run(
        [sys.executable, "-m", "core314.embedded", "status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "postgres down" in status.stdout and "redis    down" in status.stdout


def test_production_settings_pass_the_deploy_check() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "core314.settings",
        "DEBUG": "0",
        "SECRET_KEY": "a-real-production-secret-" + "k7Qz9" * 10,
        "ALLOWED_HOSTS": "core314.example.com",
    }
    env.pop("CORE314_HTTPS", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "core314.settings", "DEBUG": "0"}
    env.pop("SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


@pytest.mark.django_db
def test_bootstrap_can_run_twice_without_duplicating_anything(capsys: Any) -> None:
    from django.contrib.auth import get_user_model
    from django_celery_beat.models import PeriodicTask

    from health.models import Component

    call_command("bootstrap")
    first = capsys.readouterr().out
    assert "administrator created: admin / " in first
    call_command("bootstrap")
    second = capsys.readouterr().out
    assert "administrator created" not in second
    assert get_user_model().objects.filter(username="admin", is_superuser=True).count() == 1
    assert Component.objects.filter(is_platform=True).count() == 6
    assert PeriodicTask.objects.filter(name="platform-heartbeat").count() == 1


def test_no_sqlite_anywhere() -> None:
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
