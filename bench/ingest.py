"""Bulk ingest over HTTP against PostgreSQL COPY into the same table, in the same run.

A fresh database (``<name>_bench``) is migrated; one daphne process serves the app; client threads post
batches of 1000 events to /api/v1/health-events/batch/ for a fixed time. The ceiling is COPY of the same
kind of rows into the same table, with the same indexes, from this process. Nothing here is simulated:
every event goes through authentication, validation, COPY and the status update of its component.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BATCH = 1000
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))


@dataclass
class Result:
    name: str
    http_events_per_s: float
    copy_rows_per_s: float
    batches: int
    p50_batch_ms: float
    p95_batch_ms: float

    @property
    def ratio(self) -> float:
        return self.http_events_per_s / self.copy_rows_per_s


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _bench_url(base: str) -> str:
    prefix, _, name = base.rpartition("/")
    name = name.split("?")[0]
    admin = f"{prefix}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}_bench" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}_bench"')
    return f"{prefix}/{name}_bench"


def _events(component: int, n: int, start: datetime) -> list[dict[str, Any]]:
    return [
        {"component": component, "window_start": (start + timedelta(milliseconds=i)).isoformat(),
         "latency_p95_ms": 100 + i % 50, "error_rate": 0.01, "availability": 1.0, "request_count": 100,
         "error_count": 1}
        for i in range(n)
    ]  # fmt: skip


def run() -> Result:
    url = _bench_url(os.environ["DATABASE_URL"])
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "CORE314_REDIS_PREFIX": "core314bench"}
    manage = [sys.executable, "manage.py"]
    print("[ingest] migrating a fresh database…", flush=True)
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    setup = (
        "from django.contrib.auth import get_user_model;"
        "from core314 import services;"
        "from health.services import component_create;"
        "u=get_user_model().objects.create_user('bench');"
        "c=component_create(actor=u,name='bench-api');"
        "a=services.service_account_create(actor=u,owner=u,name='bench');"
        "print(c.pk, services.api_token_create(actor=u,service_account=a).plaintext)"
    )
    out = subprocess.run([*manage, "shell", "-v0", "-c", setup], cwd=ROOT, env=env, check=True, capture_output=True)
    component, token = out.stdout.decode().split()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core314.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        start = datetime.now(UTC) - timedelta(hours=1)
        body = json.dumps({"events": _events(int(component), BATCH, start)}).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        durations: list[float] = []
        lock = threading.Lock()
        stop = time.monotonic() + SECONDS

        def client() -> None:
            while time.monotonic() < stop:
                began = time.perf_counter()
                request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/health-events/batch/", body, headers)
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 -- the bench's own server on localhost
                    assert response.status == 201
                with lock:
                    durations.append(time.perf_counter() - began)

        print(f"[ingest] {CLIENTS} clients post batches of {BATCH} for {SECONDS:.0f} s…", flush=True)
        began = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait(10)
    http_rate = len(durations) * BATCH / elapsed

    print("[ingest] COPY ceiling…", flush=True)
    rows = 200_000
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        found = cursor.execute("SELECT id FROM auth_user WHERE username = 'bench'").fetchone()
        assert found is not None  # created above
        owner = found[0]
        began = time.perf_counter()
        with cursor.copy(
            "COPY system_health_events (owner_id, component_id, window_start, window_end, source, status, "
            "latency_p95_ms, error_rate, availability, request_count, error_count, timeout_count, version, region, "
            "metadata, created_at) FROM STDIN"
        ) as copy:
            now = datetime.now(UTC)
            for i in range(rows):
                ws = start + timedelta(milliseconds=i)
                copy.write_row([owner, int(component), ws, ws + timedelta(seconds=10), "push", "healthy",
                                100 + i % 50, 0.01, 1.0, 100, 1, 0, "", "", "{}", now])  # fmt: skip
        conn.commit()
        copy_rate = rows / (time.perf_counter() - began)
    durations.sort()
    result = Result(
        name="bulk ingest over HTTP (1 daphne process)",
        http_events_per_s=http_rate,
        copy_rows_per_s=copy_rate,
        batches=len(durations),
        p50_batch_ms=durations[len(durations) // 2] * 1000,
        p95_batch_ms=durations[int(len(durations) * 0.95)] * 1000,
    )
    print(
        f"[ingest] HTTP {http_rate:,.0f} events/s, COPY {copy_rate:,.0f} rows/s, ratio {result.ratio:.0%}", flush=True
    )
    return result


def section(results: list[Result]) -> str:
    lines = [
        "## Bulk ingest",
        "",
        f"Batches of {BATCH} health events posted by {CLIENTS} client threads for {SECONDS:.0f} s to",
        "`POST /api/v1/health-events/batch/` (token auth, one validation pass, COPY, component status update),",
        "against `COPY` of the same rows into the same table with the same indexes.",
        "",
        "| path | events/s | ceiling (COPY rows/s) | ratio | batch p50 | batch p95 | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.http_events_per_s:,.0f} | {r.copy_rows_per_s:,.0f} | {r.ratio:.0%} | "
            f"{r.p50_batch_ms:.0f} ms | {r.p95_batch_ms:.0f} ms | ≥ 40 % |"
        )
    lines.append("")
    return "\n".join(lines)
