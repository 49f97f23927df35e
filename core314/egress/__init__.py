"""The egress guard: every connection the platform opens to a user-given target (probes, webhooks, escalation
channels, cache and PostgreSQL actuators) passes here, at save time and again at connect time.

Rules, for every address a target's host resolves to (all of them must pass):

* schemes: http/https for URLs; ``host:port`` for TCP; postgresql:// and redis:// (rediss://) for those kinds;
  anything else (``file:``, ``gopher:``, ``javascript:``, Unix sockets, a DSN's ``host=`` parameter) is refused;
* never: cloud metadata addresses (169.254.169.254, fd00:ec2::254, …, and names such as
  ``metadata.google.internal``) and unspecified addresses (0.0.0.0/8, ::);
* refused unless a network in ``CORE314_EGRESS_ALLOW`` contains the address: loopback (127/8, ::1),
  link-local (169.254/16, fe80::/10), multicast, reserved and broadcast addresses;
* the platform's own PostgreSQL, Redis (broker included) and web listeners (``DATABASES``, ``REDIS_URL``,
  ``CELERY_BROKER_URL``, ``CORE314_PUBLIC_URL``, ``CORE314_PORT`` on any address of this machine) are refused
  whatever the allow list says: 127.0.0.1, localhost, ::1 and this machine's own addresses count as one host;
* private networks (RFC 1918, unique-local IPv6) are allowed: they are where users' services live;
* a *privileged* target (a row whose owner is an administrator, saved by an administrator or the platform
  itself) may also reach loopback and the platform's own services: the demo service on 127.0.0.1 and the
  platform's probes of itself. Metadata and unspecified addresses stay refused for everyone.

At connect time the host is resolved once, every address checked, and the connection made to a checked
address (DNS rebinding cannot swap it): HTTP(S) through an opener whose connections keep the Host header and
the TLS server name, TCP through :func:`create_connection`, PostgreSQL with ``hostaddr``, Redis through a
connection class that connects the same way. No proxy from the environment, no redirects followed.

Imports nothing from the apps; Django settings are read only by :func:`policy_for`.
"""

from core314.egress.connect import checked_addresses, create_connection, opener, postgres_connect, redis_client, urlopen
from core314.egress.policy import (
    DEFAULT_PORTS,
    METADATA_ADDRESSES,
    METADATA_NAMES,
    SCHEMES,
    STRICT,
    EgressPolicy,
    EgressRefused,
    Endpoint,
    owner_privileged,
    parse_networks,
    parse_target,
    policy_for,
    save_privileged,
)

__all__ = [
    "DEFAULT_PORTS", "METADATA_ADDRESSES", "METADATA_NAMES", "SCHEMES", "STRICT", "EgressPolicy", "EgressRefused",
    "Endpoint", "checked_addresses", "create_connection", "opener", "owner_privileged", "parse_networks",
    "parse_target", "policy_for", "postgres_connect", "redis_client", "save_privileged", "urlopen",
]  # fmt: skip
