"""A live stack for end-to-end tests: ``manage.py runstack`` (daphne, a Celery worker, beat, the demo service)
as real processes on free ports, with its own database and Redis key prefix. Tests talk to it only as a client
would: HTTP, WebSocket, and the database."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from django.conf import settings

from tests.processes import free_port, free_port_block


@dataclass
class LiveStack:
    url: str
    dsn: str
    env: dict[str, str]
    admin_password: str
    tokens: dict[str, str] = field(default_factory=dict)
    demo_port: int = 0

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(query, args).fetchall()

    def manage(self, *argv: str, stdin: str = "") -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *argv], cwd=settings.BASE_DIR, env=self.env, input=stdin,
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return done.stdout


def login(stack: LiveStack, username: str, password: str) -> tuple[urllib.request.OpenerDirector, str]:
    """A signed-in browser-like session (cookies) on the live stack; returns the opener and the session id."""
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{stack.url}/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    request = urllib.request.Request(
        f"{stack.url}/login/", data=form.encode(), headers={"Referer": f"{stack.url}/login/"}
    )
    opener.open(request, timeout=10).read()
    session = next((c.value for c in jar if c.name == "sessionid"), "")
    assert session, f"{username} could not sign in"
    return opener, session


USERS_SCRIPT = """
import json
from django.contrib.auth import get_user_model
from core314 import services
out = {}
for name in ("alice", "bob"):
    user = services.user_create(actor=None, username=name, password="e2e-pass-" + name)
    account = services.service_account_create(actor=user, owner=user, name="e2e")
    out[name] = services.api_token_create(actor=user, service_account=account).plaintext
admin = get_user_model().objects.get(username="admin")
account = services.service_account_create(actor=admin, owner=admin, name="e2e")
out["admin"] = services.api_token_create(actor=admin, service_account=account).plaintext
print("TOKENS=" + json.dumps(out))
"""


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: Any) -> Iterator[LiveStack]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    tag = hashlib.sha1(f"{settings.BASE_DIR}-{worker}".encode()).hexdigest()[:6]  # noqa: S324 -- a label
    params = settings.DATABASES["default"]
    user, host = params.get("USER") or "postgres", params.get("HOST") or "127.0.0.1"
    server = f"postgresql://{user}@{host}:{params.get('PORT') or 5432}"
    name = f"core314_e2e_{tag}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    port, demo_port, replica_port = free_port(), free_port(), free_port_block(8)
    data = tmp_path_factory.mktemp("e2e")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_", "CORE314_"))},
        "DJANGO_SETTINGS_MODULE": "core314.settings",
        "DATABASE_URL": f"{server}/{name}",
        "REDIS_URL": settings.REDIS_URL,
        "CORE314_REDIS_PREFIX": f"c314e2e-{tag}",
        "CORE314_ROLLUP_INTERVAL": "2",
        "CORE314_PROBE_TICK": "1",
        "CORE314_SIGNAL_RESOLVE_AFTER": "4",
        "CORE314_DEMO_PORT": str(demo_port),
        "CORE314_DEMO_REPLICA_PORT_BASE": str(replica_port),
        "CORE314_DEMO_FAULTS": str(data / "faults.json"),
        "CORE314_ADMIN_PASSWORD": "e2e-admin-pass",
        "CORE314_SELFTEST_INTERVAL": "3600",
        "CORE314_SCALE_IN_COOLDOWN": "15",
        "DEBUG": "1",
        "DB_CONN_MAX_AGE": "0",
    }
    log_path = Path(settings.BASE_DIR) / "test-artifacts" / f"e2e-stack-{worker}.log"
    log_path.parent.mkdir(exist_ok=True)
    log = open(log_path, "w")  # noqa: SIM115 -- closed below
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runstack", "--port", str(port)], cwd=settings.BASE_DIR, env=env,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    stack = LiveStack(f"http://127.0.0.1:{port}", f"{server}/{name}", env, "e2e-admin-pass", demo_port=demo_port)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{stack.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the live stack did not become ready; see {log_path}")
            time.sleep(0.5)
        out = stack.manage("shell", stdin=USERS_SCRIPT)
        stack.tokens = json.loads(next(line for line in out.splitlines() if line.startswith("TOKENS="))[7:])
        yield stack
    finally:
        children = psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C: runstack stops every part, the demo included
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for child in children:  # nothing may outlive the session
            if child.is_running():
                child.kill()
        log.close()
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
