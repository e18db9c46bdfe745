"""The one egress policy point: which URLs a browser sandbox may reach, and why not.

Every navigation, redirect hop and sub-request a browser makes is checked here. A refusal names
the rule that refused it so a person can see what happened and, where it makes sense, allow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import idna

# Ranges a subagent must not reach unless a person allow-listed the host: the machine itself,
# private networks, link-local (cloud metadata lives at 169.254.169.254), CGNAT, and the rest of
# the special-purpose space. The labels make refusals readable; beyond them, any address that is
# not globally routable is refused too (`blocked_range`).
_BLOCKED_NETS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this-network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "CGNAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local / cloud metadata"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.168.0.0/16", "private"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::1/128", "loopback"),
    ("::/128", "unspecified"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("64:ff9b::/96", "NAT64"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique-local (private)"),
    ("fe80::/10", "link-local"),
    ("fd00:ec2::254/128", "cloud metadata"),
    ("ff00::/8", "multicast"),
)
BLOCKED_NETWORKS = tuple((ipaddress.ip_network(net), label) for net, label in _BLOCKED_NETS)
NAVIGABLE_SCHEMES = frozenset({"http", "https"})
# Sub-resources may also be inline data the page itself carries.
SUBRESOURCE_SCHEMES = NAVIGABLE_SCHEMES | {"data", "blob"}
# Websockets are sub-requests to an http(s) endpoint and pass the same address rules.
WEBSOCKET_SCHEMES = {"ws": "http", "wss": "https"}


class EgressRefused(Exception):
    """A URL the policy refuses; `rule` names the rule, `reason` says why in words."""

    def __init__(self, url: str, rule: str, reason: str) -> None:
        self.url, self.rule, self.reason = url, rule, reason
        super().__init__(f"refused {url!r} by rule {rule!r}: {reason}")


def blocked_range(address: str) -> str | None:
    """The label of the blocked range `address` falls in, or None for a public address.

    IPv6 addresses that carry an IPv4 address (IPv4-mapped, 6to4, Teredo's client) are judged by
    that address too: `2002:a9fe:a9fe::1` reaches 169.254.169.254 through a 6to4 relay.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        for kind, inner in (
            ("IPv4-mapped", ip.ipv4_mapped),
            ("6to4", ip.sixtofour),
            ("Teredo", ip.teredo[1] if ip.teredo else None),
        ):
            if inner is not None:
                label = blocked_range(str(inner))
                if label or kind == "IPv4-mapped":
                    return f"{kind} of {label}" if label else kind
    for net, label in BLOCKED_NETWORKS:
        if ip.version == net.version and ip in net:
            return f"{label} ({net})"
    if not ip.is_global:
        return "not globally routable"
    return None


# How long a resolved name is trusted. getaddrinfo does not give the record's TTL, so this is a
# bound: short enough that a long-lived server follows DNS changes, long enough that one run's
# many sub-requests to a site resolve it once.
DNS_TTL_S = 60.0
_DNS_CACHE_SIZE = 512


class _DnsCache:
    """Resolved names with a lifetime, shared by the route gate and the proxy (thread-safe)."""

    def __init__(self, ttl_s: float, size: int) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._entries: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def resolve(self, host: str) -> tuple[str, ...]:
        """The addresses of `host`, from the cache while fresh, else from the resolver."""
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(host)
            if hit is not None and hit[0] > now:
                self._entries.move_to_end(host)
                return hit[1]
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        addresses = tuple(sorted({str(info[4][0]) for info in infos}))
        with self._lock:
            self._entries[host] = (now + self.ttl_s, addresses)
            self._entries.move_to_end(host)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return addresses

    def clear(self) -> None:
        """Forget every name."""
        with self._lock:
            self._entries.clear()


DNS_CACHE = _DnsCache(DNS_TTL_S, _DNS_CACHE_SIZE)


def resolve_host(host: str) -> tuple[str, ...]:
    """Every address `host` resolves to (a literal IP resolves to itself)."""
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        return DNS_CACHE.resolve(host)


def ascii_host(host: str) -> str:
    """`host` as the browser puts it on the wire: a non-ASCII name in its IDNA (xn--) form."""
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return host  # not a name a browser can reach either: compared as it is


def origin(url: str) -> str:
    """scheme://host:port of a URL, with the default port made explicit."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{ascii_host((parts.hostname or '').lower())}:{port}"


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
        with_port = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # [V6]:PORT
        return host in self.allow_hosts or with_port in self.allow_hosts

    def check(self, url: str, *, navigation: bool = True) -> None:
        """Raise EgressRefused if `url` may not be fetched; navigations must stay on planned sites."""
        parts = urlsplit(url)
        if not navigation and parts.scheme in SUBRESOURCE_SCHEMES - NAVIGABLE_SCHEMES:
            return
        if not navigation and parts.scheme in WEBSOCKET_SCHEMES:
            http_url = parts._replace(scheme=WEBSOCKET_SCHEMES[parts.scheme]).geturl()
            try:
                self.check(http_url, navigation=False)
            except EgressRefused as refusal:
                raise EgressRefused(url, refusal.rule, refusal.reason) from None
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
        if not self.is_allow_listed(host, port):
            self.check_endpoint(host, port, url=url)

    def check_endpoint(self, host: str, port: int, *, url: str) -> tuple[str, ...]:
        """The addresses `host` resolves to, each checked against the blocked ranges.

        A caller that connects must connect to one of these and never resolve again: a second
        answer could differ (DNS rebinding).
        """
        try:
            addresses = resolve_host(host)
        except OSError as exc:
            raise EgressRefused(url, "dns", f"cannot resolve {host!r}: {exc}") from None
        if self.is_allow_listed(host, port):
            return addresses
        for address in addresses:
            label = blocked_range(address)
            if label:
                hint = f"allow it with --allow-host {_bracket(host)}:{port} if you trust it"
                msg = f"{host} resolves to {address}, in the {label} range; {hint}"
                raise EgressRefused(url, "private_address", msg)
        return addresses


# SOCKS5 (RFC 1928) constants. Chromium sends the host name, not an address, so the proxy
# resolves it — once — checks every address, and connects to a checked one.
_SOCKS_VERSION = 5
_NO_AUTH = 0
_CONNECT = 1
_ATYP_IPV4, _ATYP_DOMAIN, _ATYP_IPV6 = 1, 3, 4
_REPLY_OK, _REPLY_NOT_ALLOWED, _REPLY_UNREACHABLE, _REPLY_REFUSED = 0, 2, 4, 5
_REPLY_BAD_COMMAND, _REPLY_BAD_ADDRESS = 7, 8
_CONNECT_TIMEOUT_S = 10.0
_HANDSHAKE_TIMEOUT_S = 5.0
_PIPE_CHUNK = 64 * 1024

RefusalSink = Callable[[EgressRefused], None]
FailureSink = Callable[[str, int], None]


class EgressProxy:
    """A per-browser SOCKS5 proxy: every TCP connection the browser opens is checked here.

    The route gate in the browser sees navigations and sub-requests but not redirect hops, and a
    page could find other ways out (websockets from workers, preconnects). Chromium is started
    with this proxy for everything, loopback included, so whatever it connects to passes the
    range rules after DNS resolution, at the moment of connecting.
    """

    def __init__(
        self, policy: EgressPolicy, *, on_refusal: RefusalSink, on_failure: FailureSink
    ) -> None:
        self.policy = policy
        self._on_refusal, self._on_failure = on_refusal, on_failure
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0

    async def start(self) -> int:
        """Listen on a free loopback port; return it."""
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def serve(self, sock: socket.socket) -> None:
        """Also accept on `sock`, a listening socket made elsewhere.

        That is a socket in a jail's network namespace: the browser reaches the proxy there, and
        nothing else.
        """
        self._servers.append(await asyncio.start_server(self._serve, sock=sock))

    async def close(self) -> None:
        """Stop listening and cut every tunnel still open."""
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            upstream = await asyncio.wait_for(self._handshake(reader, writer), _HANDSHAKE_TIMEOUT_S)
            if upstream is not None:
                self.connections += 1
                await _pipe_both(reader, writer, *upstream)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            # Only close() cancels a handler, and nothing awaits it but close()'s gather: end
            # quietly, since asyncio logs a connection handler that ends cancelled as an error.
            pass
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        version, n_methods = await reader.readexactly(2)
        methods = await reader.readexactly(n_methods)
        if version != _SOCKS_VERSION or _NO_AUTH not in methods:
            writer.write(bytes([_SOCKS_VERSION, 0xFF]))
            return None
        writer.write(bytes([_SOCKS_VERSION, _NO_AUTH]))
        _, command, _, atyp = await reader.readexactly(4)
        host = await _read_host(reader, atyp)
        (port,) = struct.unpack(">H", await reader.readexactly(2))
        if command != _CONNECT or host is None:
            await _reply(writer, _REPLY_BAD_COMMAND if host else _REPLY_BAD_ADDRESS)
            return None
        url = f"tcp://{_bracket(host)}:{port}"
        try:
            addresses = await asyncio.to_thread(self.policy.check_endpoint, host, port, url=url)
        except EgressRefused as refusal:
            # A name that does not resolve is a failed connection, not a refusal: Chromium's own
            # background requests to hosts that do not resolve here are not the page's doing.
            if refusal.rule == "dns":
                self._on_failure(host, port)
                await _reply(writer, _REPLY_UNREACHABLE)
                return None
            self._on_refusal(refusal)
            await _reply(writer, _REPLY_NOT_ALLOWED)
            return None
        upstream = await _connect_any(addresses, port)
        if upstream is None:
            self._on_failure(host, port)
            await _reply(writer, _REPLY_REFUSED)
            return None
        await _reply(writer, _REPLY_OK)
        return upstream


async def _read_host(reader: asyncio.StreamReader, atyp: int) -> str | None:
    if atyp == _ATYP_IPV4:
        return str(ipaddress.IPv4Address(await reader.readexactly(4)))
    if atyp == _ATYP_IPV6:
        return str(ipaddress.IPv6Address(await reader.readexactly(16)))
    if atyp == _ATYP_DOMAIN:
        (length,) = await reader.readexactly(1)
        return (await reader.readexactly(length)).decode("idna").lower()
    return None


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _reply(writer: asyncio.StreamWriter, code: int) -> None:
    writer.write(bytes([_SOCKS_VERSION, code, 0, _ATYP_IPV4, 0, 0, 0, 0, 0, 0]))
    await writer.drain()


async def _connect_any(
    addresses: tuple[str, ...], port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    for address in addresses:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(address, port), _CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            continue
    return None


async def _pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    try:
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    finally:
        up_writer.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(_PIPE_CHUNK):
            sink.write(chunk)
            await sink.drain()
    except OSError:
        pass
    finally:
        if sink.can_write_eof():
            with contextlib.suppress(OSError):
                sink.write_eof()
