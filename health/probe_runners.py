"""Probe runners: each checks one target and returns an outcome, never raises. No Django here."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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


@dataclass
class ProbeOutcome:
    ok: bool
    duration_ms: float
    error_kind: str = ""
    message: str = ""
    gauges: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a probe reports the status it got, it does not follow redirects


def _classify(exc: BaseException) -> str:
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
    scheme = urlsplit(spec.target).scheme
    if scheme not in {"http", "https"}:
        raise ValueError(f"unsupported URL scheme {scheme!r}")
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(spec.target, headers={"User-Agent": "core314-probe/1"})  # noqa: S310 -- scheme checked above
    try:
        with opener.open(request, timeout=spec.timeout_s) as response:
            return response.status, response.read(1_000_000)
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
    host, _, port = spec.target.rpartition(":")
    started = time.perf_counter()
    with socket.create_connection((host.strip("[]"), int(port)), timeout=spec.timeout_s):
        pass
    return ProbeOutcome(True, (time.perf_counter() - started) * 1000, message="connected")


def probe_postgres(spec: ProbeSpec) -> ProbeOutcome:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(spec.target, connect_timeout=max(1, round(spec.timeout_s))) as conn:
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
    import redis

    client = redis.Redis.from_url(spec.target, socket_timeout=spec.timeout_s, socket_connect_timeout=spec.timeout_s)
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
    except ValueError as exc:
        return ProbeOutcome(False, elapsed, "parse", f"not the Prometheus text format: {exc}")
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
        return ProbeOutcome(False, elapsed, _classify(exc), f"{type(exc).__name__}: {exc}"[:300])
