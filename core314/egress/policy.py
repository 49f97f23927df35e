"""The egress guard's rules: which targets and addresses user-given connections may reach (see the package).

Imports nothing from the apps; Django settings are read only by :func:`policy_for`.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefused(ValueError):
    """A target the guard refuses; the message says why, in words a user can act on."""


METADATA_ADDRESSES: frozenset[Address] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean…
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS resolver
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::253",
    )
)
METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?$")

DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "postgres": 5432, "redis": 6379, "rediss": 6379}
SCHEMES = {
    "http": {"http", "https"},
    "postgres": {"postgresql", "postgres"},
    "redis": {"redis", "rediss"},
}
# Connection parameters a PostgreSQL URL may carry: none of them names another host, a socket or a file.
POSTGRES_PARAMS = {
    "sslmode", "connect_timeout", "application_name", "channel_binding", "gssencmode", "sslnegotiation",
    "target_session_attrs", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
    "tcp_user_timeout", "client_encoding",
}  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    """Where a target points: the scheme (``tcp`` for host:port), the host as written and the port."""

    scheme: str
    host: str
    port: int


def _unwrap(address: Address) -> Address:
    """The IPv4 address hidden in an IPv4-mapped, 6to4 or NAT64 IPv6 address (else the address itself)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _host(host: str | None, scheme: str) -> str:
    if not host:
        raise EgressRefused(f"a {scheme} target needs a host name or address (no Unix sockets)")
    literal = host.strip("[]")
    try:
        ipaddress.ip_address(literal)
        return literal
    except ValueError:
        pass
    if not _HOST_NAME.match(literal) or ".." in literal:
        raise EgressRefused(f"{host!r} is not a host name")
    if literal.lower().rstrip(".") in METADATA_NAMES:
        raise EgressRefused(f"{host} is a cloud metadata service")
    return literal


def parse_target(kind: str, target: str) -> Endpoint:
    """The endpoint of a target of ``kind`` (``http``, ``tcp``, ``postgres``, ``redis``); EgressRefused for a
    scheme or form the guard does not allow."""
    if not isinstance(target, str) or not target or len(target) > 2000 or any(c.isspace() for c in target):
        raise EgressRefused("the target must be a URL or host:port without spaces, at most 2000 characters")
    if kind == "tcp":
        host, sep, port_text = target.rpartition(":")
        if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise EgressRefused("a tcp target is host:port")
        if ":" in host and not (host.startswith("[") and host.endswith("]")):
            raise EgressRefused("write an IPv6 address in brackets: [::1]:port")
        return Endpoint("tcp", _host(host, "tcp"), int(port_text))
    schemes = SCHEMES.get(kind)
    if schemes is None:
        raise EgressRefused(f"unknown target kind {kind!r}")
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise EgressRefused(f"only {' and '.join(sorted(schemes))} URLs are allowed (not {scheme or 'none'!r})")
    if "," in parts.netloc:
        raise EgressRefused("one host only")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise EgressRefused(f"bad port: {exc}") from None
    if kind == "postgres":
        for name, _ in parse_qsl(parts.query, keep_blank_values=True):
            if name not in POSTGRES_PARAMS:
                raise EgressRefused(f"the connection parameter {name!r} is not allowed in a PostgreSQL URL")
        if "%" in (parts.hostname or ""):
            raise EgressRefused("the host must be written plainly (no percent-encoding)")
    if kind == "redis" and parts.query:
        raise EgressRefused("a Redis URL takes no query parameters (give the database as /N)")
    return Endpoint(scheme, _host(unquote(parts.hostname or ""), scheme), port)


# --- The policy -------------------------------------------------------------------------------------------


_CACHE_SECONDS = 60.0
_cache: dict[Any, tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def _cached(key: Any, compute: Callable[[], Any]) -> Any:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < _CACHE_SECONDS:
            return hit[1]
    value = compute()
    with _cache_lock:
        _cache[key] = (now, value)
    return value


def _resolve(host: str, port: int) -> list[tuple[socket.AddressFamily, Address]]:
    """Every address ``host`` resolves to (a literal resolves to itself), in the resolver's order."""
    found: list[tuple[socket.AddressFamily, Address]] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if (family, address) not in found:
            found.append((family, address))
    return found


def _resolve_quietly(host: str) -> frozenset[Address]:
    try:
        return frozenset(_unwrap(a) for _, a in _resolve(host, 0))
    except (OSError, UnicodeError):
        return frozenset()


def _machine_addresses() -> frozenset[Address]:
    """This machine's own addresses (every interface): a service bound to 0.0.0.0 answers on each of them."""

    def compute() -> frozenset[Address]:
        import psutil

        found: set[Address] = set()
        for addresses in psutil.net_if_addrs().values():
            for entry in addresses:
                if entry.family in (socket.AF_INET, socket.AF_INET6):
                    try:
                        found.add(_unwrap(ipaddress.ip_address(entry.address.split("%", 1)[0])))
                    except ValueError:
                        continue
        return frozenset(found | _resolve_quietly(socket.gethostname()))

    result: frozenset[Address] = _cached("machine", compute)
    return result


@dataclass(frozen=True)
class EgressPolicy:
    """What outbound connections may reach. The default refuses loopback and knows no allowed network: the
    strict policy, for callers that were given none."""

    allow: tuple[Network, ...] = ()
    # The platform's own services, (host, port), and the ports it listens on at every address of this machine.
    platform: tuple[tuple[str, int], ...] = ()
    platform_ports: tuple[int, ...] = ()
    privileged: bool = False

    def _local(self, address: Address) -> bool:
        return address.is_loopback or address.is_unspecified or address in _machine_addresses()

    def _platform(self, address: Address, port: int) -> bool:
        if port in self.platform_ports and self._local(address):
            return True
        for host, platform_port in self.platform:
            if port != platform_port:
                continue
            for known in _cached(("host", host), functools.partial(_resolve_quietly, host)):
                if address == known or (self._local(address) and self._local(known)):
                    return True
        return False

    def check_address(self, address: Address, port: int) -> None:
        """EgressRefused when ``address:port`` may not be reached under this policy."""
        plain = _unwrap(address)
        shown = str(address)
        if plain in METADATA_ADDRESSES:
            raise EgressRefused(f"{shown} is a cloud metadata address")
        if plain.is_unspecified or plain in _THIS_NETWORK:
            raise EgressRefused(f"{shown} is an unspecified address")
        if self._platform(plain, port):
            if self.privileged:
                return
            raise EgressRefused(f"{shown}:{port} is one of this platform's own services")
        if self.privileged and plain.is_loopback:
            return
        if any(plain.version == net.version and plain in net for net in self.allow):
            return
        for refused, label in (
            (plain.is_loopback, "a loopback address"),
            (plain.is_link_local, "a link-local address"),
            (plain.is_multicast, "a multicast address"),
            (plain.is_reserved or plain == ipaddress.IPv4Address("255.255.255.255"), "a reserved address"),
        ):
            if refused:
                raise EgressRefused(f"{shown} is {label} (an administrator can allow it: CORE314_EGRESS_ALLOW)")

    def resolve(self, host: str, port: int) -> list[tuple[socket.AddressFamily, Address]]:
        """Resolve ``host`` once and check every address; the checked addresses to connect to."""
        if host.lower().rstrip(".") in METADATA_NAMES:
            raise EgressRefused(f"{host} is a cloud metadata service")
        addresses = _resolve(host, port)
        if not addresses:
            raise EgressRefused(f"{host} has no IPv4 or IPv6 address")
        for _, address in addresses:
            self.check_address(address, port)
        return addresses

    def check(self, kind: str, target: str) -> Endpoint:
        """The save-time check: the target's form and scheme, and every address its host resolves to now. A
        host that does not resolve yet passes (it is checked again, resolved, when the platform connects)."""
        endpoint = parse_target(kind, target)
        with contextlib.suppress(socket.gaierror, UnicodeError):
            self.resolve(endpoint.host, endpoint.port)
        return endpoint


STRICT = EgressPolicy()


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs as networks; ValueError names a bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"CORE314_EGRESS_ALLOW: {value!r} is not a network (CIDR): {exc}") from None
    return tuple(networks)


def _url_endpoint(url: str | None) -> tuple[str, int] | None:
    if not url:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        return None
    return (parts.hostname, port) if parts.hostname and port else None


def policy_for(*, privileged: bool) -> EgressPolicy:
    """The policy from the settings: ``CORE314_EGRESS_ALLOW`` and the platform's own services. ``privileged``:
    the target belongs to an administrator (or the platform itself)."""
    from django.conf import settings

    platform: list[tuple[str, int]] = []
    for database in settings.DATABASES.values():
        host = database.get("HOST") or "localhost"
        if not str(host).startswith("/"):
            platform.append((str(host), int(database.get("PORT") or 5432)))
    for url in (settings.REDIS_URL, getattr(settings, "CELERY_BROKER_URL", None), settings.CORE314_PUBLIC_URL):
        found = _url_endpoint(url)
        if found is not None:
            platform.append(found)
    return EgressPolicy(
        allow=parse_networks(settings.CORE314_EGRESS_ALLOW),
        platform=tuple(dict.fromkeys(platform)),
        platform_ports=(int(settings.CORE314_PORT),),
        privileged=privileged,
    )


def owner_privileged(owner: Any) -> bool:
    """At connect time: the row's owner is an administrator (the demo, the platform's probes of itself)."""
    from core314.tenancy import is_admin

    return is_admin(owner)


def save_privileged(*, actor: Any, owner: Any) -> bool:
    """At save time: an administrator's row, saved by an administrator or by the platform itself (no actor).
    A service account is never privileged, even an administrator's."""
    from core314.tenancy import is_admin

    return is_admin(owner) and (actor is None or is_admin(actor))
