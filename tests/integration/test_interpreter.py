"""Real code-interpreter sandboxes: state, I/O, isolation and limits, over every working tier."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from pathlib import Path

import pytest

from sandbox.interpreter import (
    SandboxLimits,
    SandboxUnavailable,
    available_tiers,
    open_session,
    resolve_tier,
)

pytestmark = pytest.mark.slow

ISOLATED = available_tiers()
ALL_TIERS = [*ISOLATED, "none"]
FIND_MINE = (
    "import os\n"
    "roots = ['/work', '/tmp', '/root', '/opt', '/home', '/var', '/run', '/mnt']\n"
    "print([d for r in roots for d, _, names in os.walk(r) if 'mine.txt' in names])"
)
REPO_FILE = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.mark.parametrize("tier", ALL_TIERS)
async def test_variables_persist_between_calls(tier: str) -> None:
    async with open_session(tier) as session:
        first = await session.execute("x = 40\ndef add(n):\n    return x + n")
        second = await session.execute("print(add(2))")
    assert first.exit_status == 0
    assert second.stdout == "42\n"
    assert second.tier == tier


@pytest.mark.parametrize("tier", ALL_TIERS)
async def test_stdout_stderr_and_exception_are_captured(tier: str) -> None:
    code = "import sys\nprint('out')\nprint('err', file=sys.stderr)\nraise ValueError('boom')"
    async with open_session(tier) as session:
        result = await session.execute(code)
        ok = await session.execute("1 + 1")
    assert (result.stdout, result.exit_status) == ("out\n", 1)
    assert result.stderr.startswith("err\n")
    assert "ValueError: boom" in result.stderr
    assert (result.error_type, result.error_message) == ("ValueError", "boom")
    assert (ok.stdout, ok.exit_status, ok.error_type) == ("2\n", 0, None)


@pytest.mark.parametrize("tier", ALL_TIERS)
async def test_pandas_chart_round_trips_through_the_work_dir(tier: str) -> None:
    code = (
        "import pandas as pd, matplotlib.pyplot as plt\n"
        "df = pd.read_csv('in/data.csv')\n"
        "df.plot(x='year', y='sales').get_figure().savefig('out/chart.png')\n"
        "print(int(df.sales.sum()))"
    )
    async with open_session(tier, preload=("pandas", "matplotlib.pyplot")) as session:
        await session.write_file("in/data.csv", b"year,sales\n2020,3\n2021,4\n")
        await session.execute("import os; os.makedirs('out', exist_ok=True)")
        result = await session.execute(code)
        listed = await session.list_files()
        png = await session.read_file("out/chart.png")
    assert result.exit_status == 0, result.stderr
    assert result.stdout == "7\n"
    assert result.files == ["out/chart.png"]
    assert listed == ["in/data.csv", "out/chart.png"]
    assert png.startswith(b"\x89PNG")


@pytest.mark.parametrize("tier", ISOLATED)
async def test_no_network_inside(tier: str) -> None:
    connections: list[object] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer.get_extra_info("peername"))
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)"
    try:
        async with open_session(tier) as session:
            result = await session.execute(code)
    finally:
        server.close()
        await server.wait_closed()
    assert result.exit_status == 1
    assert result.error_type in {"ConnectionRefusedError", "OSError", "TimeoutError"}
    assert connections == []


@pytest.mark.parametrize("tier", ALL_TIERS)
async def test_environment_is_scrubbed(tier: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-for-test")
    code = (
        "import glob, os\n"
        "blobs = [os.environ.get('AWS_SECRET_ACCESS_KEY', '')]\n"
        "for p in glob.glob('/proc/[0-9]*/environ'):\n"
        "    try:\n        blobs.append(open(p, 'rb').read().decode('latin-1'))\n"
        "    except OSError:\n        pass\n"
        "print(any('fake-secret' in b for b in blobs), os.environ['MPLBACKEND'])"
    )
    async with open_session(tier) as session:
        result = await session.execute(code)
    assert result.stdout == "False Agg\n", result.stderr


@pytest.mark.parametrize("tier", ISOLATED)
async def test_host_files_are_not_visible(tier: str) -> None:
    paths = [str(REPO_FILE), "/root/.aws", "/etc/shadow", "/etc/passwd", "/work/main"]
    code = (
        "import os\n"
        f"for p in {paths!r}:\n"
        "    try:\n        open(p, 'rb').read(); print('READABLE', p)\n"
        "    except OSError:\n        pass\n"
        "print('done')"
    )
    async with open_session(tier) as session:
        result = await session.execute(code)
    assert result.stdout == "done\n", result.stdout


@pytest.mark.parametrize("tier", ISOLATED)
async def test_code_runs_as_unprivileged_uid(tier: str) -> None:
    async with open_session(tier) as session:
        result = await session.execute("import os; print(os.getuid() != 0, os.geteuid() != 0)")
    assert result.stdout == "True True\n"


@pytest.mark.parametrize("tier", ALL_TIERS)
async def test_wall_time_limit_kills_infinite_loop(tier: str) -> None:
    async with open_session(tier, SandboxLimits(wall_time_s=1)) as session:
        started = time.monotonic()
        result = await session.execute("while True:\n    pass")
        after = await session.execute("print('still there?')")
    assert result.limit_hit == "wall_time"
    assert time.monotonic() - started < 10
    assert after.error_type == "SessionEnded"


@pytest.mark.parametrize("tier", ALL_TIERS)
async def test_cpu_time_limit_ends_the_session(tier: str) -> None:
    async with open_session(tier, SandboxLimits(cpu_time_s=1, wall_time_s=20)) as session:
        result = await session.execute("while True:\n    pass")
    assert result.limit_hit == "cpu_time"
    assert result.exit_status not in (0, None)


@pytest.mark.parametrize("tier", ALL_TIERS)
async def test_memory_bomb_is_an_error_result(tier: str) -> None:
    async with open_session(tier, SandboxLimits(memory_mb=512)) as session:
        result = await session.execute("hog = bytearray(2 * 1024**3)")
        after = await session.execute("print('alive')")
    assert (result.limit_hit, result.error_type) == ("memory", "MemoryError")
    assert after.stdout == "alive\n"


@pytest.mark.parametrize("tier", ALL_TIERS)
async def test_file_size_limit(tier: str) -> None:
    code = "open('big.bin', 'wb').write(b'0' * (3 * 1024**2))"
    async with open_session(tier, SandboxLimits(file_size_mb=1)) as session:
        result = await session.execute(code)
    assert (result.limit_hit, result.error_type) == ("file_size", "OSError")


@pytest.mark.parametrize("tier", ISOLATED)
async def test_fork_bomb_is_contained(tier: str) -> None:
    started = time.monotonic()
    async with open_session(tier, SandboxLimits(processes=16, wall_time_s=15)) as session:
        result = await session.execute("import os\nwhile True:\n    os.fork()")
    assert result.limit_hit in {"processes", "wall_time"}
    assert time.monotonic() - started < 20
    host_ok = await asyncio.to_thread(subprocess.run, ["true"], check=False)
    assert host_ok.returncode == 0


@pytest.mark.parametrize("tier", ALL_TIERS)
async def test_output_is_capped(tier: str) -> None:
    async with open_session(tier, SandboxLimits(output_bytes=1000)) as session:
        result = await session.execute("print('x' * 5000)")
    assert result.truncated
    assert result.limit_hit == "output"
    assert len(result.stdout) == 1000


@pytest.mark.parametrize("tier", ISOLATED)
async def test_sessions_do_not_see_each_other(tier: str) -> None:
    async with open_session(tier) as first, open_session(tier) as second:
        await first.execute("open('mine.txt', 'w').write('first only')")
        result = await second.execute(FIND_MINE)
        listed = await second.list_files()
    assert result.stdout == "[]\n"
    assert listed == []


@pytest.mark.parametrize("tier", ISOLATED)
async def test_writes_outside_work_dir_fail(tier: str) -> None:
    targets = ["/usr/evil", "/etc/evil", "/evil", "/opt/flotilla-venv/evil", "/proc/evil"]
    code = (
        f"for p in {targets!r}:\n"
        "    try:\n        open(p, 'w').write('x'); print('WROTE', p)\n"
        "    except OSError:\n        pass\n"
        "open('/tmp/private', 'w').write('ok')\nprint('done')"
    )
    async with open_session(tier) as session:
        result = await session.execute(code)
    assert result.stdout == "done\n", result.stdout
    assert not await asyncio.to_thread(Path("/tmp/private").exists)


@pytest.mark.parametrize("tier", ALL_TIERS)
async def test_crash_is_a_result_and_later_calls_say_session_ended(tier: str) -> None:
    async with open_session(tier) as session:
        crash = await session.execute("import os; os._exit(3)")
        later = await session.execute("print(1)")
    assert crash.exit_status == 3
    assert crash.error_type == "SandboxCrash"
    assert later.error_type == "SessionEnded"


@pytest.mark.parametrize("tier", ALL_TIERS)
async def test_paths_cannot_escape_the_work_dir(tier: str) -> None:
    async with open_session(tier) as session:
        for bad in ("../escape.txt", "/etc/passwd", "a/../../b", ""):
            with pytest.raises(ValueError):
                await session.write_file(bad, b"x")
            with pytest.raises(ValueError):
                await session.read_file(bad)
        await session.execute("import os; os.symlink('/etc/hostname', 'link')")
        with pytest.raises(OSError):
            await session.read_file("link")
        assert await session.list_files() == []


async def test_none_tier_works_and_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sandbox.interpreter"):
        async with open_session("none") as session:
            result = await session.execute("print('plain')")
    assert result.stdout == "plain\n"
    assert result.tier == "none"
    assert any("'none'" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_unknown_tier_is_refused_with_a_hint() -> None:
    with pytest.raises(SandboxUnavailable, match="unknown sandbox tier 'vm9000'"):
        resolve_tier("vm9000")
    assert "none" not in available_tiers()
