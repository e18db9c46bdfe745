"""Flotilla's Deep Agents backend beyond LangChain's suite: the jail's view, limits and lifecycle."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

import pytest

from integrations.deepagents.backend import TIMEOUT_EXIT_CODE, FlotillaSandbox, SandboxError
from sandbox.tier_choice import available_tiers
from sandbox.tiers import sandbox_env

pytestmark = pytest.mark.slow

TIERS = available_tiers()


@pytest.fixture(scope="module", params=TIERS)
def backend(request: pytest.FixtureRequest) -> FlotillaSandbox:
    with FlotillaSandbox(request.param) as sandbox:
        yield sandbox


def test_shell_view_has_what_base_sandbox_runs_and_is_read_only(backend: FlotillaSandbox) -> None:
    tools = "sh cat wc mkdir rm mv cp ls head tail grep find python3 python base64"
    found = backend.execute(f"for t in {tools}; do command -v $t >/dev/null || echo no $t; done")
    assert (found.output, found.exit_code) == ("", 0)
    for target in ("/usr/bin/flotilla-probe", "/etc/flotilla-probe", "/flotilla-probe"):
        denied = backend.execute(f"echo x > {target}")
        assert denied.exit_code != 0, target
    assert backend.execute("echo ok > /work/probe && echo ok > /tmp/probe").exit_code == 0


def test_environment_is_the_scrubbed_one(backend: FlotillaSandbox) -> None:
    seen = dict(
        line.split("=", 1) for line in backend.execute("env").output.splitlines() if "=" in line
    )
    expected = {**sandbox_env(), "PATH": "/opt/flotilla-venv/bin:" + sandbox_env()["PATH"]}
    assert {k: v for k, v in seen.items() if k not in ("PWD", "SHLVL", "_")} == expected


def test_no_network(backend: FlotillaSandbox) -> None:
    code = "import socket; socket.create_connection(('127.0.0.1', 9), timeout=2)"
    result = backend.execute(f'python3 -c "{code}"')
    assert result.exit_code != 0
    assert "Network is unreachable" in result.output or "Errno" in result.output


def test_timeout_kills_the_command_group_and_the_session_goes_on(backend: FlotillaSandbox) -> None:
    started = time.monotonic()
    result = backend.execute("sleep 60 & sleep 60; echo never", timeout=1)
    assert time.monotonic() - started < 15
    assert result.exit_code == TIMEOUT_EXIT_CODE
    assert "timed out after 1 s" in result.output and "never" not in result.output
    assert backend.execute("ps -e -o comm= | grep -c sleep").output.strip() == "0"
    assert backend.execute("echo alive").output == "alive\n"


def test_output_larger_than_a_pipe_arrives_whole(backend: FlotillaSandbox) -> None:
    result = backend.execute("python3 -c \"print('y' * 300_000)\"")
    assert (result.exit_code, len(result.output), result.truncated) == (0, 300_001, False)


def test_exit_code_and_stderr_come_back(backend: FlotillaSandbox) -> None:
    result = backend.execute("echo out; echo err >&2; exit 7")
    assert (result.output, result.exit_code) == ("out\nerr\n", 7)


@pytest.mark.parametrize("tier", TIERS)
def test_close_removes_the_session_and_refuses_more(tier: str) -> None:
    sandbox = FlotillaSandbox(tier)
    work: Path = sandbox.session.work  # type: ignore[attr-defined]
    assert sandbox.execute("true").exit_code == 0 and work.is_dir()
    sandbox.close()
    sandbox.close()
    assert not work.exists()
    with pytest.raises(SandboxError, match="closed"):
        sandbox.execute("true")


@pytest.mark.parametrize("tier", TIERS)
def test_a_dropped_sandbox_is_closed(tier: str) -> None:
    sandbox = FlotillaSandbox(tier)
    work = sandbox.session.work  # type: ignore[attr-defined]
    del sandbox
    gc.collect()
    deadline = time.monotonic() + 30
    while work.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not work.exists()


async def test_async_use_from_another_loop_and_async_with() -> None:
    tier = TIERS[0]
    sandbox = await asyncio.to_thread(FlotillaSandbox, tier)
    async with sandbox:
        results = await asyncio.gather(*(sandbox.aexecute(f"echo {n}") for n in range(3)))
        assert [r.output for r in results] == ["0\n", "1\n", "2\n"]
        [up] = await sandbox.aupload_files([("/work/d/x.bin", b"\x00\xff" * 10)])
        [down] = await sandbox.adownload_files(["/work/d/x.bin"])
        assert (up.error, down.content) == (None, b"\x00\xff" * 10)
    with pytest.raises(SandboxError):
        await sandbox.aexecute("true")
