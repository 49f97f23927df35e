"""The egress guard on its own: schemes, refused networks, the platform's own services, the allow list, and
connections made to the address that was checked (no server needed beyond local sockets)."""

from __future__ import annotations

import ipaddress
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core314 import egress
from core314.egress import EgressPolicy, EgressRefused
from core314.egress import policy as rules

LOOPBACK = egress.parse_networks(["127.0.0.0/8", "::1/128"])


@pytest.mark.parametrize(
    ("kind", "target", "message"),
    [
        ("http", "file:///etc/passwd", "only http and https"),
        ("http", "gopher://10.0.0.1:70/_x", "only http and https"),
        ("http", "javascript:alert(1)", "only http and https"),
        ("http", "ftp://10.0.0.1/x", "only http and https"),
        ("http", "http://", "needs a host"),
        ("http", "http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http", "http://a b/", "without spaces"),
        ("postgres", "postgresql://u@/db?host=/var/run/postgresql", "'host' is not allowed"),
        ("postgres", "postgresql://u@10.0.0.1/db?hostaddr=127.0.0.1", "'hostaddr' is not allowed"),
        ("postgres", "postgresql://u@10.0.0.1/db?service=x", "'service' is not allowed"),
        ("postgres", "postgresql://u@10.0.0.1,10.0.0.2/db", "one host"),
        ("postgres", "postgresql://u@%2Fvar%2Frun/db", "percent-encoding"),
        ("postgres", "http://10.0.0.1/db", "only postgres and postgresql"),
        ("redis", "unix:///tmp/redis.sock", "only redis and rediss"),
        ("redis", "redis://10.0.0.1:6379/0?connection_class=x", "no query"),
        ("tcp", "10.0.0.1", "host:port"),
        ("tcp", "::1:80", "brackets"),
        ("tcp", "10.0.0.1:99999", "host:port"),
    ],
)
def test_only_the_allowed_schemes_and_forms(kind: str, target: str, message: str) -> None:
    with pytest.raises(EgressRefused, match=message):
        EgressPolicy().check(kind, target)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),  # IPv4-mapped
        ("http://169.254.10.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://[::]:8000/", "unspecified"),
        ("http://127.0.0.1:9100/", "loopback"),
        ("http://localhost:9100/", "loopback"),
        ("http://[::1]:9100/", "loopback"),
        ("http://[::ffff:127.0.0.1]:9100/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 as one number, as resolvers accept it
        ("http://224.0.0.1/", "multicast"),
    ],
)
def test_refused_addresses(target: str, message: str) -> None:
    with pytest.raises(EgressRefused, match=message):
        EgressPolicy().check("http", target)


def test_private_networks_are_where_users_services_live() -> None:
    for target in ("http://10.1.2.3/health", "https://192.168.1.5:8443/", "http://172.16.0.9/", "http://[fd12::1]/"):
        assert EgressPolicy().check("http", target).host
    assert EgressPolicy().check("tcp", "10.0.0.5:5432").port == 5432


def test_a_host_that_does_not_resolve_yet_passes_the_save_time_check() -> None:
    assert EgressPolicy().check("http", "https://deploy.invalid/hook").host == "deploy.invalid"


def test_the_allow_list_opens_networks_but_never_metadata_or_unspecified() -> None:
    policy = EgressPolicy(allow=egress.parse_networks(["127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/0"]))
    policy.check("http", "http://127.0.0.1:9100/")
    policy.check("http", "http://169.254.10.1/")
    with pytest.raises(EgressRefused, match="metadata"):
        policy.check("http", "http://169.254.169.254/")
    with pytest.raises(EgressRefused, match="unspecified"):
        policy.check("http", "http://0.0.0.0/")
    with pytest.raises(ValueError, match="CORE314_EGRESS_ALLOW"):
        egress.parse_networks(["10.0.0.0/33"])


def test_the_platforms_own_services_are_one_host_by_any_name() -> None:
    platform = (("127.0.0.1", 6379), ("localhost", 5432))
    policy = EgressPolicy(allow=LOOPBACK, platform=platform, platform_ports=(8314,))
    for kind, target in [
        ("redis", "redis://127.0.0.1:6379/15"),
        ("redis", "redis://localhost:6379/0"),
        ("redis", "redis://[::1]:6379/0"),
        ("redis", "rediss://127.0.0.2:6379/0"),
        ("postgres", "postgresql://postgres@127.0.0.1:5432/core314"),
        ("postgres", "postgresql://postgres@[::1]/other"),
        ("http", "http://localhost:8314/api/v1/"),
        ("tcp", "[::1]:6379"),
    ]:
        with pytest.raises(EgressRefused, match="this platform's own services"):
            policy.check(kind, target)
    # This machine's own (non-loopback) addresses reach a service bound to every address: the same host.
    own = next(iter(a for a in rules._machine_addresses() if not a.is_loopback), None)
    if own is not None:
        with pytest.raises(EgressRefused, match="own services"):
            policy.check("redis", f"redis://{'[' + str(own) + ']' if own.version == 6 else own}:6379/0")
    # Another port on loopback is allowed (the allow list), and so is everything for a privileged row.
    policy.check("redis", "redis://127.0.0.1:6380/0")
    privileged = EgressPolicy(platform=platform, platform_ports=(8314,), privileged=True)
    privileged.check("redis", "redis://127.0.0.1:6379/0")
    privileged.check("http", "http://127.0.0.1:9100/api/health")
    with pytest.raises(EgressRefused, match="metadata"):
        privileged.check("http", "http://169.254.169.254/")
    with pytest.raises(EgressRefused, match="link-local"):
        privileged.check("http", "http://169.254.1.1/")


class _Hello(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/")
            self.end_headers()
            return
        body = f"host={self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def local_http() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_connections_go_to_the_checked_address_and_keep_the_host_name(local_http: int, monkeypatch: Any) -> None:
    allowed = EgressPolicy(allow=LOOPBACK)
    request = urllib.request.Request(f"http://localhost:{local_http}/")
    with egress.urlopen(request, timeout=2, policy=allowed) as response:
        assert response.read() == f"host=localhost:{local_http}".encode()
    with pytest.raises(EgressRefused, match="loopback"):
        egress.urlopen(urllib.request.Request(f"http://localhost:{local_http}/"), timeout=2, policy=EgressPolicy())
    # A redirect is never followed (to the metadata address here): the 302 is the answer.
    with pytest.raises(urllib.error.HTTPError) as moved:
        egress.urlopen(urllib.request.Request(f"http://127.0.0.1:{local_http}/moved"), timeout=2, policy=allowed)
    assert moved.value.code == 302
    with pytest.raises(EgressRefused, match="only http and https"):
        egress.urlopen(urllib.request.Request("file:///etc/passwd"), timeout=2, policy=allowed)


def test_dns_rebinding_is_caught_at_connect_time(local_http: int, monkeypatch: Any) -> None:
    """The name resolved to a private address when the target was saved; at connect time it resolves to the
    metadata address. The connection is refused, and nothing connects to the name's other answers."""
    real = socket.getaddrinfo
    answers = iter(["10.9.8.7", "169.254.169.254"])

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            address = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    policy = EgressPolicy()
    policy.check("http", "http://rebind.test/")  # saved: a private address
    with pytest.raises(EgressRefused, match="metadata"):
        egress.create_connection(("rebind.test", 80), 1, policy=policy)


def test_every_address_of_a_name_must_pass(monkeypatch: Any) -> None:
    real = socket.getaddrinfo

    def two(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "mixed.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in ("10.0.0.1", "127.0.0.1")]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", two)
    with pytest.raises(EgressRefused, match="loopback"):
        EgressPolicy().check("http", "http://mixed.test/")


def test_nat64_and_6to4_wrappers_are_unwrapped() -> None:
    assert rules._unwrap(ipaddress.ip_address("64:ff9b::a9fe:a9fe")) == ipaddress.ip_address("169.254.169.254")
    assert rules._unwrap(ipaddress.ip_address("2002:7f00:1::")) == ipaddress.ip_address("127.0.0.1")
