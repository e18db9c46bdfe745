"""Real code-interpreter sandboxes: state, I/O, isolation and limits, over every working tier."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import warnings
from pathlib import Path

import pytest

from cli.main import main as cli_main
from sandbox.interpreter import SandboxLimits, SandboxUnavailable, open_session
from sandbox.pool import SessionPool, default_pool
from sandbox.tier_choice import AUTO_ORDER, available_tiers, resolve_tier

pytestmark = pytest.mark.slow

ISOLATED = available_tiers()
ALL_TIERS = [*ISOLATED, "none"]


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


@pytest.mark.parametrize("tier", ALL_TIERS)
async def test_output_is_capped(tier: str) -> None:
    async with open_session(tier, SandboxLimits(output_bytes=1000)) as session:
        result = await session.execute("print('x' * 5000)")
    assert result.truncated
    assert result.limit_hit == "output"
    assert len(result.stdout) == 1000


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
        with pytest.raises(ValueError, match="symlink, not a regular file"):
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


def test_auto_prefers_the_first_working_tier_of_auto_order() -> None:
    expected = [t for t in AUTO_ORDER if t in ISOLATED]
    assert expected == ISOLATED
    if ISOLATED:
        assert resolve_tier("auto") == ISOLATED[0]


@pytest.mark.parametrize("tier", ISOLATED)
async def test_results_name_the_syscall_filter(tier: str) -> None:
    async with open_session(tier) as session:
        result = await session.execute("print(1)")
    assert result.syscall_filter == {"bwrap": "seccomp", "gvisor": "gvisor"}[tier]


async def test_warm_pool_hands_out_preloaded_sessions_once() -> None:
    tier = ISOLATED[0] if ISOLATED else "none"
    async with SessionPool(tier, size=1) as pool:
        first = await pool.acquire()
        warm = await first.execute("import sys\nprint('pandas' in sys.modules)\nx = 'mine'")
        await first.write_file("left.txt", b"behind")
        await pool.release(first)
        async with pool.session() as second:
            result = await second.execute("print('x' in globals())")
            listed = await second.list_files()
        ended = await first.execute("print(1)")
    assert warm.stdout == "True\n"
    assert second is not first
    assert (result.stdout, listed) == ("False\n", [])
    assert ended.error_type == "SessionEnded"
    with pytest.raises(RuntimeError, match="pool is closed"):
        await pool.acquire()


async def test_pool_start_failure_is_raised_to_the_caller() -> None:
    pool = SessionPool("none", size=1, preload=("no_such_module_xyz",))
    with pytest.raises(SandboxUnavailable, match="no_such_module_xyz"):
        await pool.acquire()
    await pool.close()


def test_default_pool_is_shared_per_loop_and_closed_with_it() -> None:
    async def use() -> tuple[SessionPool, SessionPool, str]:
        one = await default_pool("none", size=1, preload=())
        two = await default_pool("none", size=1, preload=())
        async with one.session() as session:
            result = await session.execute("print(1)")
        return one, two, result.stdout

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        one, two, stdout = asyncio.run(use())
    assert one is two
    assert stdout == "1\n"
    with pytest.raises(RuntimeError, match="pool is closed"):
        asyncio.run(one.acquire())


@pytest.mark.skipif(not ISOLATED, reason="no isolated tier for 'auto'")
def test_cli_sandbox_exec_runs_a_file_and_copies_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "job.py"
    script.write_text("open('out.csv', 'w').write('a,b\\n1,2\\n')\nprint('done')")
    out = tmp_path / "out"
    code = cli_main(["sandbox", "exec", str(script), "--out", str(out), "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (payload["stdout"], payload["exit_status"]) == ("done\n", 0)
    assert payload["tier"] == ISOLATED[0]
    assert payload["host_files"] == {"out.csv": str((out / "out.csv").resolve())}
    assert (out / "out.csv").read_text() == "a,b\n1,2\n"
    script.write_text("raise ValueError('nope')")
    assert cli_main(["sandbox", "exec", str(script), "--out", str(out), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error_type"] == "ValueError"
    assert cli_main(["sandbox", "exec", str(tmp_path / "missing.py"), "--json"]) == 2
    # the analyst's preload by default; --preload '' for a bare session, names for others
    capsys.readouterr()
    script.write_text("import sys\nprint(sorted({'pandas', 'wave'} & set(sys.modules)))")
    for preload, seen in ((None, ["pandas"]), ("", []), ("wave", ["wave"])):
        flag = [] if preload is None else ["--preload", preload]
        assert cli_main(["sandbox", "exec", str(script), "--out", str(out), *flag]) == 0
        assert capsys.readouterr().out.startswith(f"{seen}\n")
    assert cli_main(["sandbox", "exec", str(script), "--preload", "no_such_mod"]) == 2
