"""Five research runs at once on one embedded Redis; one killed mid-run and resumed.

Three run in this process through `graph.runner.Runner`, the Python path the product offers
(standing in for the dev server's SDK: starting `langgraph dev` costs more than this 2-core
machine has to spare), two through the `flotilla` command. Each plans four subagents (the three
demo sites and a fault site with a plain table), each subagent in its own jailed Chromium, each
analysis in the code sandbox (the environment's tier). One CLI run is SIGKILLed once a branch of
it is checkpointed, then `flotilla resume` finishes it.

Afterwards: every run's report is complete (four sites read, each site in the report, its
charts on disk), Redis holds each thread's checkpoints through `remember`, and nothing is left:
no process this test started (the test makes itself the subreaper of what its CLI processes
leave behind, so orphans are found too) and no temporary directory (every run's TMPDIR is a
folder of this test).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo_sites.demo import DEMO_QUESTION
from demo_sites.server import DemoSites, SiteServer, serve_directory
from graph.builder import build_graph
from graph.context import Context
from graph.runner import Runner, RunResult
from memory.checkpoint import redis_saver
from memory.redis_server import EmbeddedRedis
from sandbox.jail import RUNTIME_DIR_PREFIX
from tests.fixtures_sites import FAULT_SITES_DIR
from tests.integration.test_resume import _Running, _started, _wait_for_a_finished_branch

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(900)]

PR_SET_CHILD_SUBREAPER = 36
SUBAGENTS = 4
SDK_RUNS = 3
CLI_THREADS = ["load-cli-killed", "load-cli-whole"]


@pytest.fixture
def sites() -> Iterator[tuple[list[str], list[str]]]:
    """Four sites: the demo's three and a fault site with a static table (URLs, hosts)."""
    with DemoSites(latency_s=0.05) as demo:
        extra: SiteServer = serve_directory(FAULT_SITES_DIR / "static_table")
        try:
            yield [*demo.urls.values(), extra.url], [*demo.allow_hosts, extra.host]
        finally:
            extra.close()


@pytest.fixture
def subreaper() -> Iterator[None]:
    """This process adopts the orphans of its descendants (a killed CLI's children)."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, os.strerror(ctypes.get_errno())
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants() -> list[tuple[int, str, str]]:
    """(pid, state, command line) of every live process below this one."""
    tree, found, todo = _children(), [], list(_children().get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        found.append((pid, state, cmd.strip()[:200]))
    return found


def _reap_orphans(known: set[int]) -> None:
    """Collect adopted orphans that exited (zombies), leaving this test's own children alone."""
    for pid, state, _ in _descendants():
        if state == "Z" and pid not in known:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def _leftovers(known: set[int], deadline_s: float = 15) -> list[tuple[int, str, str]]:
    """What is still running below this process once everything finished (a short grace)."""
    deadline = time.monotonic() + deadline_s
    while True:
        _reap_orphans(known)
        left = [p for p in _descendants() if p[1] != "Z" and p[0] not in known]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _cli_env(tmp_path: Path, redis_url: str, tmpdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FLOTILLA_ALLOW_HOSTS")}
    return env | {
        "REDIS_URL": redis_url,
        "FLOTILLA_RUNS_DIR": str(tmp_path / "runs"),
        "FLOTILLA_STATE_DIR": str(tmp_path / "state"),
        "TMPDIR": str(tmpdir),
    }


def _cli_args(urls: list[str], hosts: list[str], thread: str, parallel: int) -> list[str]:
    args = ["research", DEMO_QUESTION, "--thread", thread, "--json", "--max-pages", "2"]
    args += ["--max-parallel", str(parallel)]
    for url, host in zip(urls, hosts, strict=True):
        args += ["--url", url, "--allow-host", host]
    return args


async def _kill_after_a_branch(url: str, thread: str, run: _Running) -> set[str]:
    """SIGKILL the run as soon as one of its branches is checkpointed; those branches."""
    done = await _wait_for_a_finished_branch(url, thread, run)
    run.proc.send_signal(signal.SIGKILL)
    return done


def _complete(output: dict[str, Any], urls: list[str]) -> None:
    """A whole run's output: four sites read, the report naming each, its charts on disk."""
    assert [s["status"] for s in output["subagents"]] == ["ok"] * SUBAGENTS, output["subagents"]
    report = Path(output["report_path"]).read_text()
    for url in urls:
        assert url in report, f"{url} missing from {output['report_path']}"
    assert output["charts"] and all(Path(chart).is_file() for chart in output["charts"])
    assert "## " in report and output["answer"]


async def _checkpoints(url: str, thread: str) -> tuple[int, tuple[str, ...], set[str]]:
    """How many checkpoints Redis holds for the thread, what runs next, and which nodes ran."""
    config: Any = {"configurable": {"thread_id": thread}}
    async with redis_saver(url) as saver:
        app = build_graph(checkpointer=saver)
        history = [snapshot async for snapshot in app.aget_state_history(config)]
    assert history, f"Redis holds no checkpoint of {thread}"
    return len(history), history[0].next, {name for s in history for name in s.next}


async def test_five_runs_at_once_one_killed_and_resumed_leave_complete_reports_and_nothing_else(
    tmp_path: Path,
    sites: tuple[list[str], list[str]],
    subreaper: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urls, hosts = sites
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    started = time.monotonic()
    with EmbeddedRedis(tmp_path / "redis") as redis_server:
        known = {pid for pid, _, _ in _descendants()}  # Redis, the site servers' helpers if any
        env = _cli_env(tmp_path, redis_server.url, tmpdir)
        killed = _Running(_cli_args(urls, hosts, "load-cli-killed", parallel=1), env)
        whole = _Running(_cli_args(urls, hosts, "load-cli-whole", parallel=2), env)
        known |= {killed.proc.pid, whole.proc.pid}
        # This process's own runs keep their temporary files in the test's folder too.
        monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
        ctx = Context(
            brain="offline",
            allow_hosts=hosts,
            runs_dir=str(tmp_path / "runs"),
            max_pages=2,
            max_parallel=2,
        )
        runner = Runner(redis_url=redis_server.url)
        sdk = [
            runner.run(DEMO_QUESTION, urls, ctx, thread=f"load-sdk-{n}") for n in range(SDK_RUNS)
        ]
        killing = _kill_after_a_branch(redis_server.url, "load-cli-killed", killed)
        *results, done = await asyncio.gather(*sdk, killing)
        _, _, before_kill = await asyncio.to_thread(killed.finish)
        resumed = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "cli.main", "resume", "load-cli-killed", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=240,
            check=False,
        )
        whole_code, whole_out, whole_err = await asyncio.to_thread(whole.finish, 240)
        elapsed = time.monotonic() - started
        checkpoints = {
            thread: await _checkpoints(redis_server.url, thread)
            for thread in [f"load-sdk-{n}" for n in range(SDK_RUNS)] + CLI_THREADS
        }
        running = _leftovers((known - {killed.proc.pid, whole.proc.pid}) | {redis_server.pid})
    monkeypatch.undo()
    print(
        f"\nfive runs at once ({SUBAGENTS} subagents each), one killed and resumed: {elapsed:.1f} s"
    )

    # Every run finished with a complete report.
    for result in results:
        assert isinstance(result, RunResult) and not result.waiting
        _complete(result.output, urls)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert whole_code == 0, whole_err[-3000:]
    _complete(json.loads(resumed.stdout), urls)
    _complete(json.loads(whole_out), urls)
    # The resumed run did not run again what was checkpointed before the kill.
    assert len(done) < SUBAGENTS, "the kill came too late: every branch had finished"
    assert not done & _started(resumed.stderr)
    assert done <= _started(before_kill)

    # Redis holds each thread's checkpoints, through the last node.
    for thread, (count, pending, ran) in checkpoints.items():
        assert count >= 6 and pending == (), (thread, count, pending)
        assert {"coordinator", "browser", "analyst", "report", "remember"} <= ran, (thread, ran)

    # Nothing left: no process (Chromium, bwrap, runsc, a sandbox's driver) and no temp folder.
    assert running == [], "\n".join(f"{pid} {state} {cmd}" for pid, state, cmd in running)
    # Not a run's: this process's browser-jail launchers (they live as long as it does, by
    # design) and onnxruntime's telemetry stamp `.ses` (one small file every process rewrites).
    ours = f"{RUNTIME_DIR_PREFIX}{os.getpid()}-"
    left = [p for p in tmpdir.iterdir() if not p.name.startswith(ours) and p.name != ".ses"]
    assert left == [], [(p.name, p.is_dir() and sorted(q.name for q in p.iterdir())) for p in left]
