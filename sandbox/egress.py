"""The one egress policy point: which URLs a browser sandbox may reach, and why not.

Every navigation, redirect hop and sub-request a browser makes is checked here. A refusal names
the rule that refused it so a person can see what happened and, where it makes sense, allow it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

# Ranges a subagent must not reach unless a person allow-listed the host: the machine itself,
# private networks, link-local (cloud metadata lives at 169.254.169.254), CGNAT, and the rest of
# the special-purpose space.
_BLOCKED_NETS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this-network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "CGNAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local / cloud metadata"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::1/128", "loopback"),
    ("::/128", "unspecified"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("64:ff9b::/96", "NAT64"),
    ("fc00::/7", "unique-local (private)"),
    ("fe80::/10", "link-local"),
    ("fd00:ec2::254/128", "cloud metadata"),
    ("ff00::/8", "multicast"),
)
BLOCKED_NETWORKS = tuple((ipaddress.ip_network(net), label) for net, label in _BLOCKED_NETS)
NAVIGABLE_SCHEMES = frozenset({"http", "https"})
# Sub-resources may also be inline data the page itself carries.
SUBRESOURCE_SCHEMES = NAVIGABLE_SCHEMES | {"data", "blob"}


class EgressRefused(Exception):
    """A URL the policy refuses; `rule` names the rule, `reason` says why in words."""

    def __init__(self, url: str, rule: str, reason: str) -> None:
        self.url, self.rule, self.reason = url, rule, reason
        super().__init__(f"refused {url!r} by rule {rule!r}: {reason}")


def blocked_range(address: str) -> str | None:
    """The label of the blocked range `address` falls in, or None for a public address."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return blocked_range(str(ip.ipv4_mapped)) or "IPv4-mapped"
    for net, label in BLOCKED_NETWORKS:
        if ip.version == net.version and ip in net:
            return f"{label} ({net})"
    return None


@lru_cache(maxsize=512)
def _resolve(host: str) -> tuple[str, ...]:
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return tuple(sorted({str(info[4][0]) for info in infos}))


def resolve_host(host: str) -> tuple[str, ...]:
    """Every address `host` resolves to (a literal IP resolves to itself)."""
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        return _resolve(host)


def origin(url: str) -> str:
    """scheme://host:port of a URL, with the default port made explicit."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def validate_url(url: str) -> str:
    """Check a user-supplied URL is well-formed http(s); return it stripped, or raise EgressRefused."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise EgressRefused(url, "malformed_url", f"cannot parse the URL: {exc}") from None
    if parts.scheme not in NAVIGABLE_SCHEMES:
        msg = f"scheme {parts.scheme or '(none)'!r} is not http or https"
        raise EgressRefused(url, "scheme", msg)
    if not parts.hostname:
        raise EgressRefused(url, "malformed_url", "the URL has no host name")
    return url


@dataclass(frozen=True)
class EgressPolicy:
    """Allowed sites (navigation targets) and allow-listed hosts (exempt from the range rules)."""

    sites: frozenset[str] = field(default_factory=frozenset)
    allow_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def for_sites(cls, urls: Iterable[str], allow_hosts: Iterable[str] = ()) -> EgressPolicy:
        """A policy whose navigable sites are the origins of `urls`."""
        hosts = frozenset(h.strip().lower() for h in allow_hosts if h.strip())
        return cls(sites=frozenset(origin(u) for u in urls), allow_hosts=hosts)

    def is_allow_listed(self, host: str, port: int) -> bool:
        """Whether HOST or HOST:PORT was allow-listed by a person."""
        host = host.lower()
        return host in self.allow_hosts or f"{host}:{port}" in self.allow_hosts

    def check(self, url: str, *, navigation: bool = True) -> None:
        """Raise EgressRefused if `url` may not be fetched; navigations must stay on planned sites."""
        parts = urlsplit(url)
        if not navigation and parts.scheme in SUBRESOURCE_SCHEMES - NAVIGABLE_SCHEMES:
            return
        validate_url(url)
        if navigation and self.sites and origin(url) not in self.sites:
            raise EgressRefused(url, "off_plan", f"{origin(url)} is not one of the planned sites")
        self.check_address(url)

    def check_address(self, url: str) -> None:
        """Refuse hosts that resolve into blocked ranges, unless allow-listed."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if self.is_allow_listed(host, port):
            return
        try:
            addresses = resolve_host(host)
        except OSError as exc:
            raise EgressRefused(url, "dns", f"cannot resolve {host!r}: {exc}") from None
        for address in addresses:
            label = blocked_range(address)
            if label:
                hint = f"allow it with --allow-host {host}:{port} if you trust it"
                msg = f"{host} resolves to {address}, in the {label} range; {hint}"
                raise EgressRefused(url, "private_address", msg)
