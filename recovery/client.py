"""A small client for services that want to respect Core314's circuit breakers. Standard library only.

    breaker = CircuitBreakerClient("https://core314.example.com", token="c314_…")
    if breaker.allow("payments-api"):
        ok = call_payments()
        breaker.report("payments-api", ok)   # counts only while the breaker is half-open
    else:
        use_fallback()

Answers are cached for ``cache_s`` seconds. If Core314 cannot be reached, ``allow`` answers
``fail_open`` (default True): the platform being down must not take your service down with it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class CircuitBreakerClient:
    def __init__(
        self, base_url: str, *, token: str, cache_s: float = 2.0, timeout_s: float = 1.0, fail_open: bool = True
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.cache_s = cache_s
        self.timeout_s = timeout_s
        self.fail_open = fail_open
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON the API answered: an object, or a list for a list endpoint."""
        request = urllib.request.Request(  # noqa: S310 -- the operator's own Core314 URL
            f"{self.base_url}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 -- the operator's own Core314 URL, http(s) only
            return json.loads(response.read())

    def state(self, component: str | int) -> dict[str, Any]:
        key = str(component)
        cached = self._cache.get(key)
        if cached and time.monotonic() - cached[0] < self.cache_s:
            return cached[1]
        query = urllib.parse.urlencode({"component": key})
        answer: dict[str, Any] = self._request("GET", f"/api/v1/circuit-breakers/state/?{query}")
        self._cache[key] = (time.monotonic(), answer)
        return answer

    def allow(self, component: str | int) -> bool:
        try:
            return bool(self.state(component)["allow"])
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            return self.fail_open

    def report(self, component: str | int, ok: bool) -> None:
        """Tell the breaker how a call went; it only counts while the breaker is half-open."""
        try:
            state = self.state(component)
            if state.get("state") != "half_open":
                return
            breakers: list[dict[str, Any]] = self._request(
                "GET", f"/api/v1/circuit-breakers/?component={state['component_id']}"
            )
            if breakers:
                self._request("POST", f"/api/v1/circuit-breakers/{breakers[0]['id']}/report/", {"ok": ok})
                self._cache.pop(str(component), None)
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            return
