"""The live socket on the live stack: a user's socket carries their rows' changes and never another user's;
an anonymous socket and a socket from a foreign origin are refused."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets

from tests.e2e.conftest import LiveStack, login
from tests.e2e.test_scenarios import Api

pytestmark = pytest.mark.e2e


def _ws(stack: LiveStack) -> str:
    return stack.url.replace("http://", "ws://") + "/ws/live/"


async def _collect(stack: LiveStack, session: str, seconds: float, ready: asyncio.Event) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    headers = {"Cookie": f"sessionid={session}", "Origin": stack.url}
    async with websockets.connect(_ws(stack), additional_headers=headers) as socket:
        got.append(json.loads(await socket.recv()))  # hello
        ready.set()
        try:
            async with asyncio.timeout(seconds):
                while True:
                    got.append(json.loads(await socket.recv()))
        except TimeoutError:
            pass
    return got


def test_a_socket_carries_only_its_users_changes(live_stack: LiveStack) -> None:
    _, alice_session = login(live_stack, "alice", "e2e-pass-alice")
    _, bob_session = login(live_stack, "bob", "e2e-pass-bob")
    alice, bob = Api(live_stack, "alice"), Api(live_stack, "bob")
    mine = alice.post("/components/", {"name": "alice-ws"})["id"]
    theirs = bob.post("/components/", {"name": "bob-ws"})["id"]

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        ready_a, ready_b = asyncio.Event(), asyncio.Event()
        task_a = asyncio.create_task(_collect(live_stack, alice_session, 4, ready_a))
        task_b = asyncio.create_task(_collect(live_stack, bob_session, 4, ready_b))
        await ready_a.wait()
        await ready_b.wait()
        at = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
        await asyncio.to_thread(
            bob.post, "/health-events/", {"component": theirs, "window_start": at, "latency_p95_ms": 5}
        )
        await asyncio.to_thread(
            alice.post, "/health-events/", {"component": mine, "window_start": at, "latency_p95_ms": 5}
        )
        return await task_a, await task_b

    seen_a, seen_b = asyncio.run(scenario())
    assert seen_a[0]["event"] == "hello" and seen_b[0]["event"] == "hello"
    ids_a = [m.get("data", {}).get("component") for m in seen_a[1:]]
    ids_b = [m.get("data", {}).get("component") for m in seen_b[1:]]
    assert mine in ids_a and theirs in ids_b  # each hears about their own change, live
    assert theirs not in ids_a and mine not in ids_b  # and never about the other's


def test_anonymous_and_foreign_origin_sockets_are_refused(live_stack: LiveStack) -> None:
    _, session = login(live_stack, "alice", "e2e-pass-alice")

    async def attempt(headers: dict[str, str]) -> str:
        try:
            async with websockets.connect(_ws(live_stack), additional_headers=headers) as socket:
                await asyncio.wait_for(socket.recv(), 3)
                return "accepted"
        except websockets.exceptions.InvalidStatus as exc:
            return f"refused {exc.response.status_code}"
        except websockets.exceptions.ConnectionClosed as exc:
            return f"closed {exc.rcvd.code if exc.rcvd else ''}"

    assert asyncio.run(attempt({"Origin": live_stack.url})).startswith(("refused", "closed"))
    foreign = asyncio.run(attempt({"Cookie": f"sessionid={session}", "Origin": "https://evil.example"}))
    assert foreign.startswith(("refused", "closed")), foreign
    assert asyncio.run(attempt({"Cookie": f"sessionid={session}", "Origin": live_stack.url})) == "accepted"


def test_a_page_left_idle_keeps_its_socket_and_hears_the_next_change(live_stack: LiveStack) -> None:
    """On the real daphne and Redis: no traffic for 20 s (several blocking-read timeouts), then a change."""
    _, session = login(live_stack, "alice", "e2e-pass-alice")
    alice = Api(live_stack, "alice")
    mine = alice.post("/components/", {"name": "alice-idle"})["id"]

    async def scenario() -> list[dict[str, Any]]:
        headers = {"Cookie": f"sessionid={session}", "Origin": live_stack.url}
        got: list[dict[str, Any]] = []
        # No client pings either: the browser's 25 s ping would hide a server that drops idle sockets.
        async with websockets.connect(_ws(live_stack), additional_headers=headers, ping_interval=None) as socket:
            got.append(json.loads(await socket.recv()))
            await asyncio.sleep(20)
            at = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
            await asyncio.to_thread(
                alice.post, "/health-events/", {"component": mine, "window_start": at, "latency_p95_ms": 5}
            )
            async with asyncio.timeout(5):
                while mine not in [m.get("data", {}).get("component") for m in got]:
                    got.append(json.loads(await socket.recv()))
        return got

    seen = asyncio.run(scenario())
    assert seen[0]["event"] == "hello"
    assert mine in [m.get("data", {}).get("component") for m in seen[1:]]
