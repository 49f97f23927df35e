"""Probe runners: each checks one target and returns an outcome, never raises. No Django here.

Every connection goes through the egress guard (``spec.egress``; the strict policy when none is given), which
resolves the host, checks each address and connects to a checked one. An outcome's message never carries
bytes of the target's answer: a probe must not read an internal service back to whoever aimed it there.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core314 import egress
from health import prom


@dataclass
class ProbeSpec:
    kind: str
    target: str
    timeout_s: float
    expected_status: int | None = 200
    body_match: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)
    egress: egress.EgressPolicy = egress.STRICT


@dataclass
class ProbeOutcome:
    ok: bool
    duration_ms: float
    error_kind: str = ""
    message: str = ""
    gauges: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] | None = None


def _classify(exc: BaseException) -> str:
    if isinstance(exc, egress.EgressRefused) or isinstance(getattr(exc, "reason", None), egress.EgressRefused):
        return "egress"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    reason = getattr(exc, "reason", None)
    if isinstance(reason, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError) or isinstance(reason, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ssl.SSLError) or isinstance(reason, ssl.SSLError):
        return "tls"
    if isinstance(exc, socket.gaierror) or isinstance(reason, socket.gaierror):
        return "dns"
    return "error"


def _http_get(spec: ProbeSpec) -> tuple[int, bytes]:
    """GET through the egress guard (http/https only, no proxy, no redirect followed: a probe reports the
    status it got)."""
    request = urllib.request.Request(spec.target, headers={"User-Agent": "core314-probe/1"})  # noqa: S310 -- egress.urlopen allows http(s) only
    try:
        with egress.urlopen(request, timeout=spec.timeout_s, policy=spec.egress) as response:
            return int(response.status), bytes(response.read(1_000_000))
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(1_000_000) if exc.fp else b""


def probe_http(spec: ProbeSpec) -> ProbeOutcome:
    started = time.perf_counter()
    status, body = _http_get(spec)
    elapsed = (time.perf_counter() - started) * 1000
    if spec.expected_status is not None and status != spec.expected_status:
        return ProbeOutcome(False, elapsed, f"http_{status}", f"HTTP {status}, expected {spec.expected_status}")
    if status >= 500 and spec.expected_status is None:
        return ProbeOutcome(False, elapsed, f"http_{status}", f"HTTP {status}")
    if spec.body_match and spec.body_match not in body.decode(errors="replace"):
        return ProbeOutcome(False, elapsed, "body_mismatch", f"body does not contain {spec.body_match!r}")
    return ProbeOutcome(True, elapsed, message=f"HTTP {status}")


def probe_tcp(spec: ProbeSpec) -> ProbeOutcome:
    target = egress.parse_target("tcp", spec.target)
    started = time.perf_counter()
    with egress.create_connection((target.host, target.port), spec.timeout_s, policy=spec.egress):
        pass
    return ProbeOutcome(True, (time.perf_counter() - started) * 1000, message="connected")


def probe_postgres(spec: ProbeSpec) -> ProbeOutcome:
    started = time.perf_counter()
    with egress.postgres_connect(
        spec.target, policy=spec.egress, connect_timeout=max(1, round(spec.timeout_s))
    ) as conn:
        conn.execute(f"SET statement_timeout = {int(spec.timeout_s * 1000)}")
        conn.execute("SELECT 1").fetchone()
        elapsed = (time.perf_counter() - started) * 1000
        row = conn.execute("SELECT count(*), current_setting('max_connections')::int FROM pg_stat_activity").fetchone()
        if row is None:  # an aggregate always answers one row
            raise RuntimeError("pg_stat_activity answered no row")
        used, limit = row
    return ProbeOutcome(
        True,
        elapsed,
        message=f"SELECT 1 ok; {used}/{limit} connections",
        gauges={"connections": used, "connections_limit": limit},
    )


def probe_redis(spec: ProbeSpec) -> ProbeOutcome:
    client = egress.redis_client(
        spec.target, policy=spec.egress, socket_timeout=spec.timeout_s, socket_connect_timeout=spec.timeout_s
    )
    try:
        started = time.perf_counter()
        client.ping()
        elapsed = (time.perf_counter() - started) * 1000
        memory = client.info("memory")
        clients = client.info("clients")
    finally:
        client.close()
    gauges: dict[str, Any] = {"connections": clients.get("connected_clients", 0)}
    used, limit = memory.get("used_memory", 0), memory.get("maxmemory", 0)
    if limit:
        gauges["memory_percent"] = min(100.0, 100.0 * used / limit)
    return ProbeOutcome(True, elapsed, message=f"PING ok; {used // 1024} KiB used", gauges=gauges)


def probe_prometheus(spec: ProbeSpec) -> ProbeOutcome:
    started = time.perf_counter()
    status, body = _http_get(spec)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        return ProbeOutcome(False, elapsed, f"http_{status}", f"scrape answered HTTP {status}")
    try:
        values, state = prom.extract(body.decode(), list(spec.options.get("series", [])), spec.state, time.time())
    except ValueError:
        # The parser's message quotes the offending line: never shown (it would read the target back).
        return ProbeOutcome(False, elapsed, "parse", "not the Prometheus text format")
    return ProbeOutcome(True, elapsed, message=f"scraped {len(values)} field(s)", gauges=values, state=state)


RUNNERS: dict[str, Callable[[ProbeSpec], ProbeOutcome]] = {
    "http": probe_http,
    "tcp": probe_tcp,
    "postgres": probe_postgres,
    "redis": probe_redis,
    "prometheus": probe_prometheus,
}


def run(spec: ProbeSpec, runners: Mapping[str, Callable[[ProbeSpec], ProbeOutcome]] = RUNNERS) -> ProbeOutcome:
    """Run one probe. A closed port, a timeout or a bad answer is an unhealthy outcome, not an exception."""
    started = time.perf_counter()
    try:
        return runners[spec.kind](spec)
    except Exception as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return ProbeOutcome(False, elapsed, _classify(exc), _message(spec.kind, exc)[:300])


# Errors whose words are the client library's or the operating system's own, never the target's answer.
_OWN_WORDS = {
    ("psycopg", "OperationalError"),
    ("redis", "ConnectionError"),
    ("redis", "TimeoutError"),
    ("redis", "AuthenticationError"),
}


def _message(kind: str, exc: BaseException) -> str:
    """What a failed probe says. Never bytes of the target's answer: http.client quotes a bad status line,
    redis-py a bad reply, a parser the line it choked on; those say only what kind of answer it was."""
    reason = getattr(exc, "reason", None)
    if isinstance(exc, egress.EgressRefused) or isinstance(reason, egress.EgressRefused):
        return f"refused by the egress guard: {reason if isinstance(reason, egress.EgressRefused) else exc}"
    name = type(exc).__name__
    if isinstance(exc, urllib.error.URLError) and isinstance(reason, OSError):
        return f"{type(reason).__name__}: {reason}"
    if isinstance(exc, OSError) and not isinstance(exc, urllib.error.URLError):
        return f"{name}: {exc}"
    if (type(exc).__module__.split(".", 1)[0], name) in _OWN_WORDS:
        return f"{name}: {exc}"
    if isinstance(exc, http.client.HTTPException):
        return f"{name}: the answer is not HTTP"
    return f"{name}: the answer is not what a {kind} probe expects"
