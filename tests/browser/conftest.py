"""A real daphne server on the test database, and headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from tests.processes import free_port

CHROMIUM = "/usr/bin/chromium"

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"


@pytest.fixture(scope="session")
def asgi_server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """daphne serving the app (HTTP and WebSocket) on the test database, as a separate process."""
    with django_db_blocker.unblock():
        params = connection.settings_dict
    port = free_port()
    user = params.get("USER") or "postgres"
    host = params.get("HOST") or "127.0.0.1"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "core314.settings_test",
        "DATABASE_URL": f"postgresql://{user}@{host}:{params.get('PORT') or 5432}/{params['NAME']}",
        "DEBUG": "1",  # whitenoise serves static files straight from the source folders
        "DB_CONN_MAX_AGE": "0",  # tests flush tables between cases; hold no connection open
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = open(ARTIFACTS.parent / ".data" / f"daphne-{port}.log", "w")  # noqa: SIM115 -- closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core314.asgi:application"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"daphne did not start; see {log.name}") from None
            time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="module")
def _orm_beside_playwright() -> Iterator[None]:
    # Playwright's sync API keeps an event loop in the test thread; Django would then refuse the ORM calls the
    # test itself makes (factories, database flushes), although they run synchronously. The server under test
    # is another process, started without this variable.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(_orm_beside_playwright: None) -> Iterator[Any]:
    """Per module, so Playwright's event loop is gone before other tests (pytest-asyncio's) run."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page_for(browser: Any, asgi_server: str) -> Iterator[Any]:
    """A signed-in page for a user; console errors are collected on ``page.console_errors``."""
    contexts = []

    def make(username: str, password: str = "pw-for-tests") -> Any:
        context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=asgi_server)
        contexts.append(context)
        page = context.new_page()
        page.console_errors = []
        page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
        page.goto("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url("**/system-monitor")
        return page

    yield make
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
