"""A local HTTP endpoint that checks the healer's HMAC signature and records what it received."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SECRET = "a-shared-secret-of-some-length"


class Endpoint(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 200
    delay_s = 0.0

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        stamp = self.headers["X-Core314-Timestamp"]
        expected = "sha256=" + hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, self.headers["X-Core314-Signature"])
        Endpoint.received.append({"valid": valid, "body": json.loads(body)})
        time.sleep(Endpoint.delay_s)
        self.send_response(Endpoint.status if valid else 401)
        self.end_headers()
        self.wfile.write(b'{"accepted": true}')


@pytest.fixture
def endpoint() -> Iterator[str]:
    Endpoint.received, Endpoint.status, Endpoint.delay_s = [], 200, 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/heal"
    server.shutdown()
    server.server_close()
