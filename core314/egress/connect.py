"""Connecting to a checked address: the host is resolved once, every address checked by the policy, and the
connection made to a checked one (see the package)."""

from __future__ import annotations

import functools
import http.client
import socket
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from core314.egress.policy import EgressPolicy, parse_target


def create_connection(
    address: tuple[str, int],
    timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]  # the stdlib's own sentinel, as socket.create_connection takes it
    source_address: tuple[str, int] | None = None,
    *,
    policy: EgressPolicy,
) -> socket.socket:
    """``socket.create_connection`` to a checked address of ``host`` (resolved once, here)."""
    host, port = address
    error: OSError | None = None
    for _, checked in policy.resolve(host, port):
        try:
            return socket.create_connection((str(checked), port), timeout, source_address)
        except OSError as exc:
            error = exc
    raise error or OSError(f"could not connect to {host}:{port}")


def checked_addresses(host: str, port: int, *, policy: EgressPolicy) -> list[str]:
    """The checked addresses of ``host``, for clients that take one (PostgreSQL's ``hostaddr``)."""
    return [str(address) for _, address in policy.resolve(host, port)]


def _guarded(connection_class: type[http.client.HTTPConnection], policy: EgressPolicy) -> Callable[..., Any]:
    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        connection = connection_class(host, **kwargs)
        # HTTPConnection.connect() opens its socket through this attribute; HTTPS wraps that socket with the
        # URL's host name as the TLS server name, and the Host header is the URL's too.
        connection._create_connection = functools.partial(create_connection, policy=policy)  # type: ignore[attr-defined]  # http.client's documented-in-source hook
        return connection

    return make


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, policy: EgressPolicy) -> None:
        super().__init__()
        self.policy = policy

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_guarded(http.client.HTTPConnection, self.policy), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, policy: EgressPolicy) -> None:
        super().__init__()
        self.policy = policy

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_guarded(http.client.HTTPSConnection, self.policy), req, context=self._context)  # type: ignore[attr-defined]  # the handler's own SSL context


def opener(policy: EgressPolicy) -> urllib.request.OpenerDirector:
    """An opener for http(s) only, through the guard: no proxy from the environment, no ``file:``/``ftp:``/
    ``data:`` handlers, no redirect followed (a 3xx is answered as an HTTPError with its status)."""
    director = urllib.request.OpenerDirector()
    for handler in (
        _HTTPHandler(policy),
        _HTTPSHandler(policy),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),
    ):
        director.add_handler(handler)
    return director


def urlopen(request: urllib.request.Request, *, timeout: float, policy: EgressPolicy) -> Any:
    """Open an http(s) request through the guard (the URL is checked first: scheme and host)."""
    parse_target("http", request.full_url)
    return opener(policy).open(request, timeout=timeout)


def postgres_connect(dsn: str, *, policy: EgressPolicy, **kwargs: Any) -> Any:
    """psycopg.connect to a checked address of the DSN's host (``hostaddr``; the host name stays for TLS)."""
    import psycopg

    endpoint = parse_target("postgres", dsn)
    error: Exception | None = None
    for address in checked_addresses(endpoint.host, endpoint.port, policy=policy):
        try:
            return psycopg.connect(dsn, hostaddr=address, **kwargs)
        except psycopg.OperationalError as exc:
            error = exc
    raise error or OSError(f"could not connect to {endpoint.host}:{endpoint.port}")


def redis_client(url: str, *, policy: EgressPolicy, **kwargs: Any) -> Any:
    """A redis.Redis for ``url`` whose connections go to a checked address of its host."""
    import redis
    from redis.connection import Connection, SSLConnection

    parse_target("redis", url)

    class GuardedConnection(Connection):
        def _connect(self) -> socket.socket:
            sock = create_connection((self.host, self.port), self.socket_connect_timeout, policy=policy)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.socket_timeout)
            return sock

    class GuardedSSLConnection(SSLConnection, GuardedConnection):
        pass

    connection_class = GuardedSSLConnection if urlsplit(url).scheme == "rediss" else GuardedConnection
    pool = redis.ConnectionPool.from_url(url, connection_class=connection_class, **kwargs)
    return redis.Redis(connection_pool=pool)
