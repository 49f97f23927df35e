"""A small HTTP service to show Core314 doing its job on something real.

``python -m core314.demo.shop --port 9100`` serves ``GET /api/orders`` (≈ 30 ms, rare errors),
``GET /api/health`` (liveness), ``GET /metrics`` (Prometheus: requests by code, a latency histogram, CPU and
memory, over all replicas) and sends itself steady traffic so its metrics move like a service's. It runs under
the platform's process actuator (replicas share the port with SO_REUSEPORT).

Faults are injected by the platform (administrators only) into a file every replica watches
(``CORE314_DEMO_FAULTS``); a replica applies faults injected after it started, so a restart clears them, as a
restart clears a real leak or hang: ``latency`` (added ms), ``errors`` (a share of requests fail), ``leak``
(memory grows), ``cpu`` (a busy thread), ``hang`` (connections accepted, never answered), ``crash`` (the process
exits). Version ``v2`` (``CORE314_VERSION``) is a bad release: 60 % of orders fail.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil

BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
MEMORY_BUDGET = 256 * 1024 * 1024  # what "100 % memory" means for this service


class Stats:
    """This replica's counters. Replicas share a port, so a scrape reaches any one of them: each writes its
    numbers to a shared directory and ``/metrics`` adds up every live replica's (counters summed; CPU and
    memory: the hottest replica's), so the service looks the same whichever replica answers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.total_s = 0.0
        self.cpu = 0.0
        self.memory = 0.0

    def observe(self, code: int, seconds: float) -> None:
        with self.lock:
            self.requests[str(code)] = self.requests.get(str(code), 0) + 1
            index = next((i for i, le in enumerate(BUCKETS) if seconds <= le), len(BUCKETS))
            self.buckets[index] += 1
            self.total_s += seconds

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"pid": os.getpid(), "requests": dict(self.requests), "buckets": list(self.buckets),
                    "sum": self.total_s, "cpu": self.cpu, "memory": self.memory}  # fmt: skip


STATS = Stats()
STATS_DIR = Path(os.environ.get("CORE314_DEMO_STATS", "")) if os.environ.get("CORE314_DEMO_STATS") else None


def _replicas() -> list[dict[str, Any]]:
    if STATS_DIR is None:
        return [STATS.snapshot()]
    found = []
    for path in STATS_DIR.glob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if psutil.pid_exists(data.get("pid", -1)):
            found.append(data)
        else:
            path.unlink(missing_ok=True)  # a replica that is gone
    return found or [STATS.snapshot()]


def render_metrics() -> bytes:
    replicas = _replicas()
    lines = ["# TYPE demo_requests_total counter"]
    codes: dict[str, int] = {}
    for replica in replicas:
        for code, n in replica["requests"].items():
            codes[code] = codes.get(code, 0) + n
    lines += [f'demo_requests_total{{code="{code}"}} {n}' for code, n in sorted(codes.items())]
    lines.append("# TYPE demo_request_seconds histogram")
    buckets = [sum(r["buckets"][i] for r in replicas) for i in range(len(BUCKETS) + 1)]
    running = 0
    for le, n in zip([*map(str, BUCKETS), "+Inf"], buckets, strict=True):
        running += n
        lines.append(f'demo_request_seconds_bucket{{le="{le}"}} {running}')
    lines.append(f"demo_request_seconds_count {running}")
    lines.append(f"demo_request_seconds_sum {sum(r['sum'] for r in replicas)}")
    lines.append("# TYPE demo_cpu_percent gauge")
    lines.append(f"demo_cpu_percent {max(r['cpu'] for r in replicas)}")
    lines.append("# TYPE demo_memory_percent gauge")
    lines.append(f"demo_memory_percent {max(r['memory'] for r in replicas)}")
    lines.append("# TYPE demo_replicas gauge")
    lines.append(f"demo_replicas {len(replicas)}")
    return ("\n".join(lines) + "\n").encode()


STARTED = time.time()
VERSION = os.environ.get("CORE314_VERSION", "v1")


class Faults:
    """The faults this replica is under (those injected after it started)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.mtime = 0.0
        self.active: dict[str, Any] = {}
        self.leaked: list[bytearray] = []
        self.lock = threading.Lock()

    def poll(self) -> None:
        if self.path is None or not self.path.exists():
            return
        mtime = self.path.stat().st_mtime
        if mtime == self.mtime:
            return
        self.mtime = mtime
        try:
            faults = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        fresh = {f["kind"]: f for f in faults.get("faults", []) if f.get("at", 0) > STARTED}
        with self.lock:
            self.active = fresh
        if "crash" in fresh:
            os._exit(3)  # the process dies, as a segfault or an OOM kill would
        if "cpu" in fresh:
            threading.Thread(target=_burn, daemon=True).start()

    def get(self, kind: str) -> dict[str, Any] | None:
        with self.lock:
            return self.active.get(kind)


FAULTS = Faults(Path(os.environ["CORE314_DEMO_FAULTS"]) if os.environ.get("CORE314_DEMO_FAULTS") else None)
RNG = random.Random()  # noqa: S311 -- simulated behaviour, not security


def _burn() -> None:
    while FAULTS.get("cpu") is not None:
        sum(i * i for i in range(10_000))


def _housekeeping() -> None:
    process = psutil.Process()
    process.cpu_percent(None)
    while True:
        FAULTS.poll()
        leak = FAULTS.get("leak")
        if leak is not None and sum(len(b) for b in FAULTS.leaked) < MEMORY_BUDGET * 1.5:
            FAULTS.leaked.append(
                bytearray(b"\x01") * int(leak.get("mb_per_s", 20) * 1024 * 1024 / 5)
            )  # touched: resident
        STATS.cpu = min(100.0, process.cpu_percent(None))
        STATS.memory = min(100.0, 100.0 * process.memory_info().rss / MEMORY_BUDGET)
        if STATS_DIR is not None:
            path = STATS_DIR / f"{os.getpid()}.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(STATS.snapshot()))
            tmp.replace(path)
        time.sleep(0.2)


class Handler(BaseHTTPRequestHandler):
    server_version = "core314-demo/1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if FAULTS.get("hang") is not None:
            time.sleep(3600)  # accepted, never answered
            return
        if self.path == "/metrics":
            self._send(200, render_metrics(), "text/plain; version=0.0.4")
            return
        if self.path == "/api/health":
            self._send(200, json.dumps({"status": "ok", "version": VERSION}).encode())
            return
        if self.path.startswith("/api/orders"):
            self._orders()
            return
        self._send(404, b'{"error": "not found"}')

    def _orders(self) -> None:
        started = time.perf_counter()
        delay = max(0.005, RNG.gauss(0.03, 0.008))
        latency = FAULTS.get("latency")
        if latency is not None:
            delay += latency.get("ms", 800) / 1000
        time.sleep(delay)
        fail = 0.002
        errors = FAULTS.get("errors")
        if errors is not None:
            fail = errors.get("rate", 0.5)
        if VERSION == "v2":
            fail = max(fail, 0.6)  # the bad release
        if RNG.random() < fail:
            code, body = 500, b'{"error": "internal error"}'
        else:
            code, body = 200, json.dumps({"orders": RNG.randint(0, 50), "version": VERSION}).encode()
        STATS.observe(code, time.perf_counter() - started)
        self._send(code, body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    allow_reuse_port = True  # replicas share one port


def _traffic(port: int, rps: float) -> None:
    """Steady traffic against this replica's port, so the service has requests to measure."""
    while True:
        time.sleep(RNG.expovariate(rps))
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/orders", timeout=5).read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--traffic", type=float, default=20.0, help="requests per second it sends itself")
    parser.add_argument("--own-port", type=int, default=0, help="a port of this replica's own (its probe)")
    args = parser.parse_args()
    server = Server((args.host, args.port), Handler)
    if args.own_port:
        own = Server((args.host, args.own_port), Handler)
        threading.Thread(target=own.serve_forever, daemon=True).start()

    def drain(signum: int, frame: Any) -> None:
        # A rolling restart stops one replica while its siblings serve the shared port: leave the port's group
        # at once (new connections go to the others), finish the requests in hand, then exit. Connections
        # already queued on this socket would be reset by the close: take them first.
        server.socket.setblocking(False)
        with contextlib.suppress(OSError):
            while True:
                request, address = server.socket.accept()
                request.setblocking(True)
                server.process_request(request, address)
        server.socket.close()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, drain)
    if STATS_DIR is not None:
        STATS_DIR.mkdir(parents=True, exist_ok=True)
    threading.Thread(target=_housekeeping, daemon=True).start()
    # One replica sends the traffic (scaling out must not multiply the load it measures).
    if args.traffic > 0 and os.environ.get("CORE314_REPLICA", "0") == "0":
        for _ in range(4):
            threading.Thread(target=_traffic, args=(args.port, args.traffic / 4), daemon=True).start()
    with contextlib.suppress(OSError, ValueError):  # the socket closed under it by drain()
        server.serve_forever(poll_interval=0.1)
    deadline = time.monotonic() + 2
    while threading.active_count() > 3 and time.monotonic() < deadline:  # requests still being answered
        time.sleep(0.05)


if __name__ == "__main__":
    main()
