"""The egress policy: planned sites only, no private ranges unless a person allow-listed them."""

import asyncio
import socket
import struct
import time

import pytest

from sandbox.egress import (
    EgressPolicy,
    EgressProxy,
    EgressRefused,
    _DnsCache,
    blocked_range,
    validate_url,
)
from sandbox.jail import BROWSER_POLICY, bwrap_argv


@pytest.mark.parametrize(
    ("address", "label"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.20.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("100.64.0.1", "CGNAT"),
        ("0.0.0.0", "this-network"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("fd00:ec2::254", "unique-local"),
        ("::ffff:127.0.0.1", "loopback"),
        # IPv6 that carries an IPv4 address is judged by that address too.
        ("2002:a9fe:a9fe::1", "6to4 of link-local / cloud metadata"),
        ("2002:7f00:1::1", "6to4 of loopback"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo of documentation"),
        ("192.0.2.10", "TEST-NET-1"),
        ("198.51.100.7", "TEST-NET-2"),
        ("203.0.113.200", "TEST-NET-3"),
        ("2001:db8::1", "documentation"),
        # No label of its own (the discard prefix), but not globally routable.
        ("100::1", "not globally routable"),
        ("2001:2::1", "not globally routable"),
    ],
)
def test_special_ranges_are_blocked(address, label):
    assert label in (blocked_range(address) or "")


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8", "2002:808:808::1"]
)
def test_public_addresses_are_not_blocked(address):
    assert blocked_range(address) is None


def test_resolved_names_are_trusted_for_a_bounded_time(monkeypatch):
    calls: list[str] = []
    real = socket.getaddrinfo

    def counting(host, *args, **kwargs):
        calls.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    cache = _DnsCache(ttl_s=0.2, size=2)
    first = cache.resolve("localhost")
    assert cache.resolve("localhost") == first
    assert calls == ["localhost"]  # fresh: answered from the cache
    time.sleep(0.25)
    assert cache.resolve("localhost") == first
    assert calls == ["localhost", "localhost"]  # expired: asked again
    # Bounded in size too: the oldest name goes first.
    cache.resolve("127.0.0.1")
    cache.resolve("::1")
    cache.resolve("localhost")
    assert calls[-1] == "localhost" and len(calls) == 5


def _rule(policy: EgressPolicy, url: str, *, navigation: bool = True) -> str | None:
    try:
        policy.check(url, navigation=navigation)
    except EgressRefused as refusal:
        return refusal.rule
    return None


def test_loopback_is_refused_unless_allow_listed_by_host_and_port():
    site = "http://127.0.0.1:8123/"
    assert _rule(EgressPolicy.for_sites([site]), site) == "private_address"
    allowed = EgressPolicy.for_sites([site], ["127.0.0.1:8123"])
    assert _rule(allowed, site + "pricing") is None
    # The allow-list names a port: another port on the same host stays refused.
    assert (
        _rule(
            EgressPolicy.for_sites(["http://127.0.0.1:9/"], ["127.0.0.1:8123"]),
            "http://127.0.0.1:9/",
        )
        == "private_address"
    )


def test_navigation_off_the_planned_sites_is_refused_but_subresources_are_range_checked_only():
    policy = EgressPolicy.for_sites(["http://127.0.0.1:8123/"], ["127.0.0.1"])
    assert _rule(policy, "http://127.0.0.1:8124/") == "off_plan"
    assert _rule(policy, "http://127.0.0.1:8124/app.js", navigation=False) is None
    assert (
        _rule(policy, "http://169.254.169.254/latest/meta-data", navigation=False)
        == "private_address"
    )
    assert _rule(policy, "data:image/png;base64,AAAA", navigation=False) is None
    assert _rule(policy, "file:///etc/passwd", navigation=False) == "scheme"


def test_refusal_message_names_the_rule_and_how_to_allow():
    with pytest.raises(EgressRefused) as info:
        EgressPolicy().check("http://localhost:6379/")
    assert info.value.rule == "private_address"
    assert "--allow-host localhost:6379" in str(info.value)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("chrome://version/", "scheme"),
        ("http:///path", "malformed_url"),
    ],
)
def test_validate_url_rejects_what_cannot_be_browsed(url, rule):
    with pytest.raises(EgressRefused) as info:
        validate_url(url)
    assert info.value.rule == rule


def test_websockets_pass_the_address_rules_and_keep_their_url_in_the_refusal():
    policy = EgressPolicy.for_sites(["http://127.0.0.1:8123/"], ["127.0.0.1:8123"])
    assert _rule(policy, "ws://127.0.0.1:8123/live", navigation=False) is None
    with pytest.raises(EgressRefused) as info:
        policy.check("wss://169.254.169.254/socket", navigation=False)
    assert (info.value.rule, info.value.url) == ("private_address", "wss://169.254.169.254/socket")


def test_an_ipv6_hint_brackets_the_address():
    with pytest.raises(EgressRefused) as info:
        EgressPolicy().check("http://[fd00:ec2::254]/")
    assert "--allow-host [fd00:ec2::254]:80" in str(info.value)


async def _socks_connect(port: int, host: str, dest_port: int) -> int:
    """Ask the proxy for host:dest_port over SOCKS5; return its reply code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x05\x01\x00")
    assert await reader.readexactly(2) == b"\x05\x00"
    name = host.encode()
    writer.write(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", dest_port))
    reply = await reader.readexactly(10)
    writer.close()
    return reply[1]


async def test_the_proxy_refuses_blocked_ranges_by_rule_and_connects_to_allowed_ones():
    # Everything stays on loopback: the target is refused before any connection is made.
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    allowed = server.sockets[0].getsockname()[1]
    refused: list[EgressRefused] = []
    failed: list[tuple[str, int]] = []
    policy = EgressPolicy(allow_hosts=frozenset({f"127.0.0.1:{allowed}"}))
    proxy = EgressProxy(
        policy, on_refusal=refused.append, on_failure=lambda h, p: failed.append((h, p))
    )
    port = await proxy.start()
    try:
        assert await _socks_connect(port, "127.0.0.1", allowed) == 0
        assert await _socks_connect(port, "localhost", allowed) == 2  # allow-list names the host
        assert await _socks_connect(port, "no-such-host.invalid", 80) == 4
    finally:
        await proxy.close()
        server.close()
    assert [(r.url, r.rule) for r in refused] == [(f"tcp://localhost:{allowed}", "private_address")]
    assert failed == [("no-such-host.invalid", 80)]
    assert proxy.connections == 1


def test_the_jail_is_namespaced_read_only_and_sees_no_host_secrets():
    argv = bwrap_argv("bwrap", "/usr/lib/chromium/chromium")
    for flag in ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"):
        assert flag in argv
    assert argv[argv.index("--remount-ro") + 1] == "/"
    assert "--clearenv" in argv and "--share-net" not in argv
    bound = {argv[i + 2] for i, arg in enumerate(argv) if arg.startswith("--ro-bind")}
    assert not bound & {"/", "/root", "/home", "/work", "/etc", "/etc/shadow", "/var"}
    assert "file://*" in BROWSER_POLICY["URLBlocklist"]
    assert BROWSER_POLICY["DownloadRestrictions"] == 3


async def test_closing_the_proxy_mid_tunnel_to_a_silent_site_logs_nothing():
    """A site that accepts and never answers: the subagent's limit closes the proxy mid-tunnel.

    asyncio reports a connection handler that ends cancelled as an error with a traceback
    (`Exception in callback StreamReaderProtocol.connection_made...`); the proxy's handlers end
    quietly instead.
    """
    held: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda r, w: held.append(w), "127.0.0.1", 0)
    target = silent.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    reported: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    proxy = EgressProxy(
        EgressPolicy(allow_hosts=frozenset({f"127.0.0.1:{target}"})),
        on_refusal=lambda r: None,
        on_failure=lambda h, p: None,
    )
    port = await proxy.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x05\x01\x00")
    await reader.readexactly(2)
    writer.write(b"\x05\x01\x00\x01" + bytes([127, 0, 0, 1]) + struct.pack(">H", target))
    assert (await reader.readexactly(10))[1] == 0  # tunnel open; the site says nothing
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.05)
    await proxy.close()
    await asyncio.sleep(0.05)  # let the handlers' done-callbacks run
    writer.close()
    for w in held:
        w.close()
    silent.close()
    loop.set_exception_handler(None)
    assert reported == []
    assert await reader.read() == b""  # the tunnel was cut
