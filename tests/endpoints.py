"""A local webhook receiver (the operator's own endpoint): checks the HMAC signature, records what came."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

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
