"""Real processes for tests: a Celery worker on the test database, stopped for sure afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection


def test_database_url() -> str:
    params = connection.settings_dict
    user = params.get("USER") or "postgres"
    host = params.get("HOST") or "127.0.0.1"
    return f"postgresql://{user}@{host}:{params.get('PORT') or 5432}/{params['NAME']}"


def stack_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "core314.settings_test",
        "DATABASE_URL": test_database_url(),
        "DB_CONN_MAX_AGE": "0",
        **extra,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


@contextmanager
def celery_worker(*, concurrency: int = 1, pool: str = "prefork", **extra_env: str) -> Iterator[Any]:
    """A Celery worker process (its own session, so the whole tree can be killed); yields the Popen with
    ``.hostname``. Waits until it answers a ping."""
    from core314.celery import app

    hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
    log_path = Path(settings.BASE_DIR) / ".data" / f"worker-{hostname.split('@')[0]}.log"
    log_path.parent.mkdir(exist_ok=True)
    log = open(log_path, "w")  # noqa: SIM115 -- closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "core314", "worker", "-n", hostname, "-P", pool,
         "-c", str(concurrency), "-l", "info", "--without-gossip", "--without-mingle"],
        cwd=settings.BASE_DIR, env=stack_env(**extra_env), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    process.hostname = hostname
    process.log_path = log_path
    try:
        deadline = time.monotonic() + 40
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log_path.read_text()[-3000:]}")
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        log.close()
