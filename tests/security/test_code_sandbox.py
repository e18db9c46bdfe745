"""Hostile code in the code-interpreter sandbox, over every isolated tier that works here.

Each attempt must be contained and come back as a result that says what stopped it. Memory,
CPU, wall-time and file-size limits are exercised for every tier (``none`` included) in
tests/integration/test_interpreter.py; this module covers the escapes. Nothing here sends a
packet off this machine: the "outside" targets live on the loopback of a network namespace
the test creates (``unshare -n``), with listeners that record any connection.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from sandbox.interpreter import CodeSession, SandboxLimits, _ProcessSession, open_session
from sandbox.pool import DEFAULT_PRELOAD
from sandbox.tier_choice import available_tiers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not available_tiers(), reason="no isolated sandbox tier works here"),
]

ISOLATED = available_tiers()
# Every isolated tier, and gVisor as the analyst gets it: a session restored from a snapshot of
# a template that imported pandas and matplotlib before any of this code ran.
RESTORED = "gvisor-restored"
VARIANTS = [*ISOLATED, *([RESTORED] if "gvisor" in ISOLATED and os.geteuid() == 0 else [])]
REPO = Path(__file__).resolve().parents[2]
TRY_OPEN = (
    "import os\n"
    "for p in {paths!r}:\n"
    "    try:\n        open(p, 'rb').read(); print('READABLE', p)\n"
    "    except OSError:\n        pass\n"
    "print('done')"
)


@asynccontextmanager
async def sandbox(variant: str, limits: SandboxLimits | None = None) -> AsyncIterator[CodeSession]:
    """A fresh session of ``variant``: a tier's name, or RESTORED."""
    if variant != RESTORED:
        async with open_session(variant, limits) as session:
            yield session
        return
    async with open_session("gvisor", limits, preload=DEFAULT_PRELOAD) as session:
        assert isinstance(session, _ProcessSession) and session.restored, "not restored"
        yield session


@pytest.mark.parametrize("tier", VARIANTS)
async def test_host_files_and_secrets_are_invisible(
    tier: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "credentials"
    secret.write_text("aws_secret_access_key = fake-host-secret\n")
    monkeypatch.setenv("FLOTILLA_TEST_MARKER", "fake-host-secret")
    if tier == RESTORED:  # an image built while the secret is in the host's environment
        monkeypatch.setenv("FLOTILLA_SNAPSHOT_DIR", str(tmp_path / "snapshots"))
    paths = [
        str(secret),
        str(REPO / "pyproject.toml"),
        str(REPO / ".venv" / "pyvenv.cfg"),
        "/root/.aws/credentials",
        "/etc/shadow",
        "/etc/passwd",
        f"/proc/{os.getpid()}/environ",
    ]
    environ_scan = (
        "import glob\nhits = []\n"
        "for p in glob.glob('/proc/*/environ'):\n"
        "    try:\n        hits += [p] if b'fake-host-secret' in open(p, 'rb').read() else []\n"
        "    except OSError:\n        pass\n"
        "print(hits)"
    )
    async with sandbox(tier) as session:
        files = await session.execute(TRY_OPEN.format(paths=paths))
        environ = await session.execute(environ_scan)
    assert files.stdout == "done\n", files.stdout
    assert environ.stdout == "[]\n", environ.stdout


@pytest.mark.parametrize("tier", VARIANTS)
async def test_writes_outside_the_work_dir_fail(tier: str) -> None:
    targets = ["/usr/evil", "/etc/evil", "/evil", "/opt/flotilla-venv/evil", "/proc/evil"]
    code = (
        f"for p in {targets!r}:\n"
        "    try:\n        open(p, 'w').write('x'); print('WROTE', p)\n"
        "    except OSError:\n        pass\n"
        "open('/tmp/private', 'w').write('ok')\nprint('done')"
    )
    async with sandbox(tier) as session:
        result = await session.execute(code)
    assert result.stdout == "done\n", result.stdout
    assert not await asyncio.to_thread(Path("/tmp/private").exists)


@pytest.mark.parametrize("tier", VARIANTS)
async def test_no_network_to_host_loopback_or_redis(tier: str, redis_server_url: str) -> None:
    connections: list[object] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer.get_extra_info("peername"))
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redis_port = int(redis_server_url.rsplit(":", 1)[1].split("/")[0])
    code = (
        "import socket\n"
        f"for port in ({port}, {redis_port}):\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', port), timeout=3); print('CONNECTED', port)\n"
        "    except OSError as exc:\n        print(type(exc).__name__)"
    )
    try:
        async with sandbox(tier) as session:
            result = await session.execute(code)
    finally:
        server.close()
        await server.wait_closed()
    assert "CONNECTED" not in result.stdout
    assert result.stdout.count("\n") == 2, result.stdout
    assert connections == []


# Run inside a fresh network namespace: bind the targets on its loopback, listen, start a
# session there and let the sandboxed code try to reach them. Prints one JSON object.
_NETNS_SCRIPT = """
import asyncio, json, socket, subprocess, sys, threading
from sandbox.interpreter import open_session
from sandbox.pool import DEFAULT_PRELOAD
TARGETS = ("10.255.255.1", "169.254.169.254")
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
for addr in TARGETS:
    subprocess.run(["ip", "addr", "add", addr + "/32", "dev", "lo"], check=True)
seen = []
def serve(sock):
    while True:
        conn, peer = sock.accept()
        seen.append(peer[0])
        conn.close()
for addr in TARGETS:
    sock = socket.socket()
    sock.bind((addr, 80))
    sock.listen()
    threading.Thread(target=serve, args=(sock,), daemon=True).start()
CODE = '''
import socket
for addr in %r:
    try:
        socket.create_connection((addr, 80), timeout=3); print('CONNECTED', addr)
    except OSError as exc:
        print(type(exc).__name__)
''' % (TARGETS,)
async def main():
    for addr in TARGETS:  # the listeners do record a connection made from this namespace
        socket.create_connection((addr, 80), timeout=3).close()
    await asyncio.sleep(0.2)
    baseline = len(seen)
    restored = sys.argv[1] == "gvisor-restored"
    tier, preload = ("gvisor", DEFAULT_PRELOAD) if restored else (sys.argv[1], ())
    async with open_session(tier, preload=preload) as session:
        result = await session.execute(CODE)
    await asyncio.sleep(0.2)
    print(json.dumps({"self_check": baseline, "from_sandbox": seen[baseline:],
                      "stdout": result.stdout, "restored": session.restored}))
asyncio.run(main())
"""


@pytest.mark.skipif(
    shutil.which("unshare") is None or shutil.which("ip") is None, reason="needs unshare and ip"
)
@pytest.mark.parametrize("tier", VARIANTS)
async def test_outside_and_metadata_addresses_are_unreachable(tier: str) -> None:
    argv = ["unshare", "-n", sys.executable, "-c", _NETNS_SCRIPT, tier]
    done = await asyncio.to_thread(
        subprocess.run, argv, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["self_check"] == 2  # the listeners work, so silence below means something
    assert report["restored"] == (tier == RESTORED)
    assert report["from_sandbox"] == []
    assert "CONNECTED" not in report["stdout"]
    assert report["stdout"].count("\n") == 2


@pytest.mark.parametrize("tier", VARIANTS)
async def test_fork_bomb_is_contained(tier: str) -> None:
    started = time.monotonic()
    async with sandbox(tier, SandboxLimits(processes=16, wall_time_s=15)) as session:
        result = await session.execute("import os\nwhile True:\n    os.fork()")
        after = await session.execute("print('alive')")
    assert result.limit_hit in {"processes", "wall_time"}
    assert time.monotonic() - started < 20
    assert after.stdout == "alive\n" or after.error_type == "SessionEnded"
    host_ok = await asyncio.to_thread(subprocess.run, ["true"], check=False)
    assert host_ok.returncode == 0


@pytest.mark.parametrize("tier", VARIANTS)
async def test_disk_fill_stops_at_the_tmpfs_and_work_dir_sizes(tier: str) -> None:
    def fill(where: str) -> str:
        return (
            "n = 0\ntry:\n    while True:\n"
            f"        with open(f'{where}/fill-{{n}}', 'wb') as f:\n"
            "            f.write(b'0' * (1 << 20))\n"
            "        n += 1\nfinally:\n    print(n)"
        )

    limits = SandboxLimits(tmp_mb=8, work_mb=16, file_size_mb=4)
    async with sandbox(tier, limits) as session:
        tmp = await session.execute(fill("/tmp"))
        work = await session.execute(fill("."))
        alive = await session.execute("print('alive')")
    for result, cap in ((tmp, 8), (work, 16)):
        assert (result.limit_hit, result.error_type) == ("disk", "OSError"), result
        assert int(result.stdout) <= cap
    assert alive.stdout == "alive\n"


@pytest.mark.parametrize("tier", VARIANTS)
async def test_host_processes_cannot_be_signalled(tier: str) -> None:
    canary = await asyncio.create_subprocess_exec("sleep", "60")
    targets = [os.getpid(), canary.pid, 1]
    code = (
        "import os, signal\n"
        f"for pid in {targets!r}:\n"
        "    try:\n        os.kill(pid, signal.SIGKILL if pid != 1 else 0); print('SENT', pid)\n"
        "    except OSError as exc:\n        print(type(exc).__name__)\n"
        "try:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"
    )
    try:
        async with sandbox(tier) as session:
            result = await session.execute(code)
        await asyncio.sleep(0.2)
        assert canary.returncode is None
        # Host pids do not exist in the sandbox's pid namespace; its own pid 1 may.
        assert f"SENT {os.getpid()}" not in result.stdout
        assert f"SENT {canary.pid}" not in result.stdout
    finally:
        canary.kill()
        await canary.wait()


@pytest.mark.parametrize("tier", VARIANTS)
async def test_sessions_do_not_see_each_other(tier: str) -> None:
    find_mine = (
        "import os\nfound = []\n"
        "for root in ['/work', '/tmp', '/root', '/opt', '/home', '/var', '/run', '/mnt']:\n"
        "    for d, subdirs, names in os.walk(root):\n"
        "        subdirs[:] = [s for s in subdirs if s not in ('site-packages', 'lib')]\n"
        "        found += [d] if 'mine.txt' in names else []\n"
        "print(found)"
    )
    async with sandbox(tier) as first, sandbox(tier) as second:
        await first.execute("open('mine.txt', 'w').write('first only')")
        result = await second.execute(find_mine)
        listed = await second.list_files()
    assert result.stdout == "[]\n"
    assert listed == []


DANGEROUS = (
    "import ctypes, errno\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "calls = {\n"
    "    'mount': lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None),\n"
    "    'unshare': lambda: libc.unshare(0x10000000),\n"
    "    'setns': lambda: libc.setns(0, 0),\n"
    "    'ptrace': lambda: libc.ptrace(16, 1, 0, 0),\n"  # PTRACE_ATTACH to pid 1
    "}\n"
    "for name, call in calls.items():\n"
    "    rc = call()\n"
    "    print(name, rc, errno.errorcode.get(ctypes.get_errno()) if rc else 'ok')"
)


@pytest.mark.parametrize("tier", VARIANTS)
async def test_dangerous_syscalls_are_refused(tier: str) -> None:
    async with sandbox(tier) as session:
        result = await session.execute(DANGEROUS)
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert set(lines) == {"mount", "unshare", "setns", "ptrace"}, result.stdout
    if tier == "bwrap":
        assert result.syscall_filter == "seccomp"
        assert all(value == "-1 EPERM" for value in lines.values()), result.stdout
    else:
        # gVisor's sentry implements namespaces itself: unshare() there makes a namespace
        # inside the user-space kernel, never on the host. Mounts and ptrace stay refused.
        assert result.syscall_filter == "gvisor"
        assert (lines["mount"], lines["ptrace"]) == ("-1 EPERM", "-1 EPERM"), result.stdout
        assert lines["setns"].startswith("-1 ")


@pytest.mark.skipif("bwrap" not in ISOLATED, reason="bwrap tier not available")
async def test_seccomp_refuses_exotic_socket_families_but_not_analysis() -> None:
    code = (
        "import socket, pandas, matplotlib.pyplot as plt\n"
        "try:\n    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)\n    print('netlink open')\n"
        "except OSError as exc:\n    print(exc.errno)\n"
        "socket.socket(socket.AF_UNIX).close()\n"
        "plt.plot([1, 2]); plt.savefig('x.png'); print('plotted')"
    )
    async with open_session("bwrap") as session:
        result = await session.execute(code)
    assert result.stdout == f"{errno.EAFNOSUPPORT}\nplotted\n", result.stderr
    assert result.syscall_filter == "seccomp"
