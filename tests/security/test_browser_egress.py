"""A hostile page tries to reach metadata and private addresses every way a browser can.

Nothing here may leave the machine: the attempts run inside a network namespace this test
creates (`unshare -n -m`), with loopback up, each target address bound on that namespace's
loopback and a listener behind it that records any connection. A private /etc/hosts (mount
namespace) maps a host name onto the metadata address, to prove the check runs after DNS.

The same module is the script run inside the namespace (`python -m` with `--inside`); it prints
one JSON object with what the listeners saw, what `flotilla browse` reported, and what a direct
browser session observed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sandbox.browser import BrowserSession, browser_sandbox
from sandbox.egress import EgressPolicy
from sandbox.jail import JAILED_MODES, descendants

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HOSTILE = REPO / "tests" / "sites" / "hostile"
# Addresses the hostile page aims at; each is bound inside the namespace, with a listener.
TARGETS = ("169.254.169.254", "10.0.0.5", "172.16.0.10", "192.168.1.10", "fd00:ec2::254")
METADATA_NAME = "metadata.flotilla.test"

# Every attempt on tests/sites/hostile/index.html, and the rule that must refuse it.
EXPECTED_REFUSALS = {
    "http://10.0.0.5/style.css": "private_address",  # <link>
    "http://172.16.0.10/pixel.png": "private_address",  # <img>
    "http://192.168.1.10/frame.html": "off_plan",  # <iframe> (a navigation)
    "http://169.254.169.254/latest/meta-data/iframe": "private_address",  # iframe → 302 hop
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/": "private_address",
    # fetch → 302: Chromium names the hop, or the chain's first URL (which carries the target)
    "meta-data/fetch-redirect": "private_address",
    f"http://{METADATA_NAME}/computeMetadata/v1/": "private_address",  # after DNS
    "http://[fd00:ec2::254]/latest/meta-data/": "private_address",  # IPv6 metadata
    "http://10.0.0.5/xhr": "private_address",
    "ws://169.254.169.254/socket": "private_address",
    "http://10.0.0.5/popup": "off_plan",  # window.open (the pop-up's navigation)
    "http://169.254.169.254/latest/navigate": "off_plan",  # location.href = …
}


def _netns_problem() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is not installed"
    probe = subprocess.run(
        ["unshare", "-n", "-m", "ip", "link", "set", "lo", "up"], capture_output=True, check=False
    )
    return None if probe.returncode == 0 else "cannot create a network namespace (needs root)"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the hostile page inside a fresh network namespace once; its JSON observations."""
    problem = _netns_problem()
    if problem:
        pytest.skip(problem)
    work = tmp_path_factory.mktemp("hostile")
    hosts = work / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n169.254.169.254 {METADATA_NAME}\n")
    setup = ["ip link set lo up"]
    setup += [f"ip addr add {a}/{128 if ':' in a else 32} dev lo" for a in TARGETS]
    setup += [f"mount --bind {hosts} /etc/hosts"]
    module = "tests.security.test_browser_egress"
    script = " && ".join([*setup, f'exec "$0" -m {module} --inside "$1"'])
    result = subprocess.run(
        ["unshare", "-n", "-m", "sh", "-c", script, sys.executable, str(work)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_no_attempt_reaches_any_target_address(hostile):
    assert hostile["listeners_bound"] == len(TARGETS)
    assert hostile["connections"] == []


def test_browse_reports_every_attempt_with_its_rule_and_still_reads_the_page(hostile):
    findings = hostile["browse"]
    assert hostile["browse_exit"] == 0
    assert "Harbour Basic plan costs $5 per month" in findings["summary"]
    assert findings["status"] == "partial"
    refused = {(e["where"], e["rule"]) for e in findings["errors"] if e["kind"] == "refused"}
    missing = {
        url: rule
        for url, rule in EXPECTED_REFUSALS.items()
        if not any(url in where and rule == got for where, got in refused)
    }
    assert not missing, f"not reported: {missing}; reported: {sorted(refused)}"
    for error in findings["errors"]:
        assert f"by rule {error['rule']!r}" in error["message"]


def test_redirect_to_metadata_is_refused_at_the_hop(hostile):
    hop = hostile["direct"]["redirect"]
    assert hop["error_kind"] == "refused" and hop["rule"] == "private_address"
    assert hop["refused"] == [["http://169.254.169.254/latest/meta-data/", "private_address"]]


@pytest.mark.parametrize(
    ("attempt", "rule"),
    [("metadata", "off_plan"), ("file", "scheme"), ("download", "download")],
)
def test_direct_attempts_are_refused_by_their_rule(hostile, attempt, rule):
    assert hostile["direct"][attempt]["rule"] == rule


def test_the_jail_has_its_own_pid_namespace_and_a_read_only_root_without_host_files(hostile):
    jail = hostile["jail"]
    assert jail["mode"] == "bwrap+netns"
    assert jail["chromium_processes"] > 0
    assert jail["pid_ns"] != jail["host_pid_ns"]
    assert jail["root_read_only"]
    assert jail["visible"] == {"/etc/shadow": False, str(REPO): False, "/root/.aws": False}
    assert jail["survivors_after_exit"] == []


@pytest.mark.parametrize("ending", ["raises", "cancelled"])
async def test_no_chromium_survives_a_session_that_fails_or_is_cancelled(ending):
    seen: list[int] = []
    started = asyncio.Event()

    async def use_browser() -> None:
        async with browser_sandbox(EgressPolicy()) as session:
            seen.extend(_jail_tree(session))
            started.set()
            if ending == "raises":
                raise RuntimeError("the subagent failed")
            await asyncio.sleep(60)

    task = asyncio.create_task(use_browser())
    if ending == "cancelled":
        await asyncio.wait_for(started.wait(), 60)
        task.cancel()
    with pytest.raises(RuntimeError if ending == "raises" else asyncio.CancelledError):
        await task
    assert len(seen) > 1  # the jail and Chromium's processes were there
    assert _alive(seen) == []


def _jail_tree(session: BrowserSession) -> list[int]:
    assert session.jail in JAILED_MODES and session.jail_pid is not None
    return [session.jail_pid, *descendants(session.jail_pid)]


async def test_the_jailed_browser_has_no_network_but_the_proxy_and_is_not_root():
    """Chromium's own network namespace holds only a loopback of its own (and the proxy's
    socket): a direct connection to a host loopback listener fails from inside it, while the
    allow-listed loopback site still loads through the proxy. No Chromium process is root."""
    if shutil.which("nsenter") is None:
        pytest.skip("nsenter is not installed")
    from playwright.async_api import Error as PlaywrightError

    from demo_sites.server import DemoSites

    host_listener = socket.create_server(("127.0.0.1", 0))
    port = host_listener.getsockname()[1]
    sites = DemoSites()
    sites.__enter__()
    site = next(iter(sites.urls.values()))
    policy = EgressPolicy.for_sites([site], sites.allow_hosts)
    try:
        async with browser_sandbox(policy) as session:
            assert session.jail == "bwrap+netns", session.jail_reason
            response = await session.page.goto(site, wait_until="domcontentloaded")
            assert response is not None and response.ok  # the allow-listed site, via the proxy
            chromium = [p for p in _jail_tree(session)[1:] if _comm(p).startswith("chrom")]
            assert chromium
            for pid in chromium:
                status = dict(
                    line.split(":", 1)
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                )
                assert {int(u) for u in status["Uid"].split()} == {65534}, pid
                assert {int(g) for g in status["Gid"].split()} == {65534}, pid
                assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
                assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
            probe = (
                "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 2)"
            )
            direct = [sys.executable, "-c", probe, str(port)]
            inside = ["nsenter", "-t", str(chromium[0]), "-n", *direct]
            from_host, from_jail = await asyncio.gather(
                asyncio.to_thread(subprocess.run, direct, capture_output=True, check=False),
                asyncio.to_thread(subprocess.run, inside, capture_output=True, check=False),
            )
            assert from_host.returncode == 0, from_host.stderr
            assert from_jail.returncode != 0
            assert b"ConnectionRefusedError" in from_jail.stderr, from_jail.stderr
            # Chromium (not root) can still read its enterprise policy: a context without our
            # route gate is refused file: URLs by the browser itself.
            ungated = await session.context.browser.new_context()  # type: ignore[union-attr]
            page = await ungated.new_page()
            with pytest.raises(PlaywrightError, match="ERR_BLOCKED_BY_ADMINISTRATOR"):
                await page.goto("file:///etc/hostname")
    finally:
        sites.__exit__(None, None, None)
        host_listener.close()


def _alive(pids: list[int]) -> list[int]:
    """Pids still running (zombies waiting to be reaped count as gone)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


# ---- what runs inside the network namespace -------------------------------------------------


class _Listeners:
    """A TCP listener on port 80 of every target address, recording whoever connects."""

    def __init__(self) -> None:
        self.connections: list[str] = []
        self.sockets: list[socket.socket] = []
        for address in TARGETS:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, 80))
            sock.listen()
            self.sockets.append(sock)
            threading.Thread(target=self._accept, args=(sock, address), daemon=True).start()

    def _accept(self, sock: socket.socket, address: str) -> None:
        while True:
            try:
                conn, peer = sock.accept()
            except OSError:
                return
            self.connections.append(f"{peer[0]} -> {address}:80")
            conn.close()


class _HostileHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        """The hostile page, a 302 to wherever ?to= says, and a download."""
        parts = urlsplit(self.path)
        if parts.path == "/redirect":
            self._send(302, b"", "text/plain", location=parse_qs(parts.query)["to"][0])
        elif parts.path.startswith("/download/"):
            self._send(200, b"plan,price\nbasic,5\n", "text/csv", attachment=True)
        else:
            self._send(200, (HOSTILE / "index.html").read_bytes(), "text/html; charset=utf-8")

    def _send(
        self, status: int, body: bytes, kind: str, *, location: str = "", attachment: bool = False
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        if attachment:
            self.send_header("Content-Disposition", 'attachment; filename="report.csv"')
        self.end_headers()
        self.wfile.write(body)


async def _attempt(session: BrowserSession, url: str) -> dict[str, Any]:
    from playwright.async_api import Error as PlaywrightError

    from nodes.browse.pages import page_error

    before = len(session.refused)
    try:
        await session.page.goto(url, wait_until="domcontentloaded")
    except PlaywrightError as exc:
        error = page_error(url, exc, session)
        refused = [[r.url, r.rule] for r in session.refused[before:]]
        return {"error_kind": error.kind, "rule": error.rule, "refused": refused}
    return {"error_kind": "", "rule": "", "page": session.page.url}


async def _download(session: BrowserSession, site: str) -> dict[str, Any]:
    from playwright.async_api import Error as PlaywrightError

    for _ in range(3):  # a refused navigation's error page may interrupt the first try
        try:
            await session.page.goto(site, wait_until="domcontentloaded")
            break
        except PlaywrightError:
            await asyncio.sleep(0.1)
    await session.page.click("text=Download the price report")
    for _ in range(100):
        rules = [r.rule for r in session.refused if r.rule == "download"]
        if rules:
            return {"rule": rules[0]}
        await asyncio.sleep(0.05)
    return {"rule": ""}


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:  # a renderer that just exited
        return ""


def _jail_facts(session: BrowserSession) -> dict[str, Any]:
    assert session.jail_pid is not None
    tree = descendants(session.jail_pid)
    chromium = [p for p in tree if _comm(p).startswith("chrom")]
    pid = chromium[0]
    mounts = {
        line.split()[4]: line.split()[5].split(",")
        for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
    }
    root = Path(f"/proc/{pid}/root")
    paths = ("/etc/shadow", str(REPO), "/root/.aws")
    return {
        "mode": session.jail,
        "chromium_processes": len(chromium),
        "pid_ns": os.readlink(f"/proc/{pid}/ns/pid"),
        "host_pid_ns": os.readlink("/proc/self/ns/pid"),
        "root_read_only": "ro" in mounts["/"] and "ro" in mounts["/usr"],
        "visible": {path: (root / path.lstrip("/")).exists() for path in paths},
        "tree": [session.jail_pid, *tree],
    }


async def _inside(work: Path) -> dict[str, Any]:
    started = time.monotonic()
    listeners = _Listeners()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    site, allow = f"http://127.0.0.1:{port}/", f"127.0.0.1:{port}"
    cli = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "cli.main", "browse", site, "--allow-host", allow, "--json"],
        *["--max-pages", "1", "--runs-dir", str(work / "runs")],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    stdout, _ = await cli.communicate()
    timings = {"browse": time.monotonic() - started}
    policy = EgressPolicy.for_sites([site], [allow])
    async with browser_sandbox(policy) as session:
        direct = {
            "download": await _download(session, site),
            "redirect": await _attempt(
                session, f"{site}redirect?to=http://169.254.169.254/latest/meta-data/"
            ),
            "metadata": await _attempt(session, "http://169.254.169.254/latest/meta-data/"),
            "file": await _attempt(session, "file:///etc/passwd"),
        }
        jail = _jail_facts(session)
        timings["direct"] = time.monotonic() - started
    await asyncio.sleep(0.2)  # let the Playwright driver reap the jail
    jail["survivors_after_exit"] = _alive(jail.pop("tree"))
    server.shutdown()
    return {
        "listeners_bound": len(listeners.sockets),
        "connections": listeners.connections,
        "browse_exit": cli.returncode,
        "browse": json.loads(stdout),
        "direct": direct,
        "jail": jail,
        "timings": timings,
    }


if __name__ == "__main__" and sys.argv[1:2] == ["--inside"]:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    print(json.dumps(asyncio.run(_inside(Path(sys.argv[2])))))
