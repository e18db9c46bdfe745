"""Durable runs through the CLI: kill -9 mid fan-out then resume, Redis lost mid-run, history.

For `flotilla research` the demo sites are served by the test process (so they outlive the
killed CLI); `flotilla demo` serves its own, which die with it, and `resume` serves them again
on the same ports. Sites answer with added latency, and `--max-parallel 1` makes branches
finish one after another, so a kill can land after one branch finished and before the others.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo_sites.demo import DEMO_QUESTION
from demo_sites.server import DemoSites
from graph.builder import trust_only_our_models
from memory.checkpoint import redis_saver
from memory.redis_server import EmbeddedRedis

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

LATENCY_S = 0.05


@pytest.fixture
def sites() -> Iterator[DemoSites]:
    with DemoSites(latency_s=LATENCY_S) as served:
        yield served


def _env(tmp_path: Path, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FLOTILLA_ALLOW_HOSTS")}
    env |= {
        "FLOTILLA_RUNS_DIR": str(tmp_path / "runs"),
        "FLOTILLA_STATE_DIR": str(tmp_path / "state"),
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def _research_args(sites: DemoSites, thread: str) -> list[str]:
    args = ["research", DEMO_QUESTION, "--thread", thread, "--json"]
    # One branch at a time, so a kill lands between two; few pages and no analysis jail, for speed.
    args += ["--max-parallel", "1", "--max-pages", "2", "--sandbox-tier", "none"]
    for url, host in zip(sites.urls.values(), sites.allow_hosts, strict=True):
        args += ["--url", url, "--allow-host", host]
    return args


def _run(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


class _Running:
    """A CLI process in the background; its stderr progress lines collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, line) for line in self.lines):
            assert self.proc.poll() is None, f"exited early:\n{''.join(self.lines)[-3000:]}"
            assert time.monotonic() < deadline, f"no {pattern!r} in:\n{''.join(self.lines)}"
            time.sleep(0.02)

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        """Wait for the exit; return (exit code, stdout, stderr)."""
        assert self.proc.stdout is not None and self.proc.stderr is not None
        with self.proc.stdout as out:
            stdout = out.read()
        code = self.proc.wait(timeout)
        self._reader.join(timeout=10)
        self.proc.stderr.close()
        return code, stdout, "".join(self.lines)


async def _finished_branches(url: str, thread: str) -> tuple[set[str], list[str]]:
    """Task ids of the browser branches whose results are checkpointed, and what runs next."""
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    async with redis_saver(url) as saver:
        tup = await trust_only_our_models(saver).aget_tuple(config)
    if tup is None:
        return set(), []
    done = {
        f.task_id
        for _, channel, value in tup.pending_writes or []
        if channel == "findings"
        for f in value
    }
    return done, list(tup.checkpoint["channel_versions"])


async def _wait_for_a_finished_branch(url: str, thread: str, run: _Running) -> set[str]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert run.proc.poll() is None, "the run ended before any branch was checkpointed"
        done, _ = await _finished_branches(url, thread)
        if done:
            return done
        await asyncio.sleep(0.05)
    pytest.fail("no branch finished within 90 s")


def _all_done_running_only_the_rest(
    resumed: subprocess.CompletedProcess[str], before_kill: str, done: set[str]
) -> dict:
    """The resumed run's output: every site ok; branches finished before the kill not re-run."""
    out = json.loads(resumed.stdout)
    assert [(s["task_id"], s["status"]) for s in out["subagents"]] == [
        ("site-1", "ok"),
        ("site-2", "ok"),
        ("site-3", "ok"),
    ]
    assert done <= _started(before_kill)
    assert _started(resumed.stderr) == {"site-1", "site-2", "site-3"} - done
    return out


def _started(stderr: str) -> set[str]:
    return set(re.findall(r"subagent (site-\d+)\s+started", stderr))


def _normalised(report: str, thread: str) -> str:
    """The report without what legitimately differs between two runs: ids, times, timings.

    The cost estimate goes too: it prices each run's measured CPU and memory.
    """
    report = re.sub(r"## Cost estimate\n.*?(?=\n## |\Z)", "", report, flags=re.S)
    report = report.replace(thread, "THREAD")
    report = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "STAMP", report)
    return re.sub(r"\d+\.\d s\b", "N s", report)


async def test_a_killed_run_resumes_without_rerunning_finished_branches(
    tmp_path: Path, sites: DemoSites
) -> None:
    with EmbeddedRedis(tmp_path / "redis") as redis_server:
        env = _env(tmp_path, redis_server.url)
        killed = _Running(_research_args(sites, "t-killed"), env)
        # An uninterrupted run of the same research on another thread, at the same time.
        whole = _Running(_research_args(sites, "t-whole"), env)
        done = await _wait_for_a_finished_branch(redis_server.url, "t-killed", killed)
        killed.proc.send_signal(signal.SIGKILL)
        _, _, before_kill = killed.finish()
        assert len(done) < 3, "the kill came too late: every branch had finished"

        resumed = _run(["resume", "t-killed", "--json"], env)
        whole_code, whole_out, whole_err = whole.finish()
        history = _run(["history", "t-killed", "--json"], env, timeout=60)

    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = _all_done_running_only_the_rest(resumed, before_kill, done)
    assert "report:" in resumed.stderr

    # Same report as the uninterrupted run (on its own thread: neither saw the other's state).
    assert whole_code == 0, whole_err[-3000:]
    reference = json.loads(whole_out)
    assert len(reference["subagents"]) == 3
    assert _normalised(Path(out["report_path"]).read_text(), "t-killed") == _normalised(
        Path(reference["report_path"]).read_text(), "t-whole"
    )

    assert history.returncode == 0, history.stderr[-2000:]
    rows = json.loads(history.stdout)["checkpoints"]
    assert [r["step"] for r in rows] == sorted(r["step"] for r in rows)
    wrote = [name for r in rows for name in r["wrote"]]
    assert {"coordinator", "browser×3", "analyst", "report", "remember"} <= set(wrote)


async def test_losing_redis_mid_run_fails_cleanly_and_resume_finishes_the_run(
    tmp_path: Path, sites: DemoSites
) -> None:
    env = _env(tmp_path, None)  # the CLI starts its own embedded Redis
    run = _Running(_research_args(sites, "t-lost"), env)
    run.wait_for(r"subagent site-1\s+started")
    info = json.loads((tmp_path / "state" / "redis" / "flotilla-redis.json").read_text())
    url = f"redis://127.0.0.1:{info['port']}/0"
    done = await _wait_for_a_finished_branch(url, "t-lost", run)
    os.kill(info["pid"], signal.SIGKILL)
    code, out, stderr = run.finish()

    assert code == 3, stderr[-3000:]
    assert "Traceback" not in stderr
    message = json.loads(out)["error"]
    assert repr(url) in message
    assert "flotilla resume t-lost" in message
    assert stderr.strip().splitlines()[-1] == f"flotilla: {message}"

    resumed = _run(["resume", "t-lost", "--json"], env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    statuses = [s["status"] for s in json.loads(resumed.stdout)["subagents"]]
    assert statuses == ["ok", "ok", "ok"]
    assert not done & _started(resumed.stderr)


def _demo_args(thread: str) -> list[str]:
    # As _research_args: one branch at a time, few pages (no analysis jail: the env's tier).
    return ["demo", "--thread", thread, "--json", "--latency", str(LATENCY_S),
            "--max-parallel", "1", "--max-pages", "2"]  # fmt: skip


def _demo_ports(stderr: str) -> dict[str, int]:
    """Site URL → port, from the `demo sites: URL, URL, URL` line a demo prints first."""
    line = next(line for line in stderr.splitlines() if line.startswith("demo sites: "))
    ports = [int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", line)]
    assert len(ports) == 3, line
    return {f"SITE{number}": port for number, port in enumerate(ports, start=1)}


def _without_ports(report: str, ports: dict[str, int]) -> str:
    for name, port in ports.items():
        report = report.replace(f"127.0.0.1:{port}", name)
    return report


async def test_a_killed_demo_resumes_on_its_sites_served_again_on_the_same_ports(
    tmp_path: Path,
) -> None:
    with EmbeddedRedis(tmp_path / "redis") as redis_server:
        env = _env(tmp_path, redis_server.url) | {"FLOTILLA_SANDBOX_TIER": "none"}
        killed = _Running(_demo_args("t-demo-killed"), env)
        whole = _Running(_demo_args("t-demo-whole"), env)
        done = await _wait_for_a_finished_branch(redis_server.url, "t-demo-killed", killed)
        killed.proc.send_signal(signal.SIGKILL)
        _, _, before_kill = killed.finish()
        assert len(done) < 3, "the kill came too late: every branch had finished"
        ports = _demo_ports(before_kill)

        # A port the plan uses is taken now: one line naming it and what to do, nothing run.
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", ports["SITE2"]))
            squatter.listen()
            blocked = _run(["resume", "t-demo-killed"], env, timeout=60)
        resumed = _run(["resume", "t-demo-killed", "--json"], env)
        whole_code, whole_out, whole_err = whole.finish()

    assert blocked.returncode == 3, blocked.stderr[-3000:]
    assert blocked.stderr.count("\n") == 1, blocked.stderr
    assert f"127.0.0.1:{ports['SITE2']} is in use" in blocked.stderr
    assert "flotilla resume t-demo-killed" in blocked.stderr

    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (
        _demo_ports(resumed.stderr.replace("demo sites (served again): ", "demo sites: ")) == ports
    )
    out = _all_done_running_only_the_rest(resumed, before_kill, done)
    assert out["brain"] == "offline"

    # The same report as an uninterrupted demo's (its sites on other ports), timings apart.
    assert whole_code == 0, whole_err[-3000:]
    reference = json.loads(whole_out)
    assert [s["status"] for s in reference["subagents"]] == ["ok", "ok", "ok"]
    report = _without_ports(Path(out["report_path"]).read_text(), ports)
    reference_report = _without_ports(
        Path(reference["report_path"]).read_text(), _demo_ports(whole_err)
    )
    assert "127.0.0.1:" not in report + reference_report
    assert _normalised(report, "t-demo-killed") == _normalised(reference_report, "t-demo-whole")


def test_resume_and_history_of_an_unknown_thread_say_so(
    tmp_path: Path, redis_server_url: str
) -> None:
    env = _env(tmp_path, redis_server_url)
    resumed = _run(["resume", "t-nobody", "--json"], env, timeout=60)
    history = _run(["history", "t-nobody"], env, timeout=60)
    assert (resumed.returncode, history.returncode) == (2, 2)
    assert "no thread 't-nobody'" in json.loads(resumed.stdout)["error"]
    assert "no thread 't-nobody'" in history.stderr


def test_redis_down_is_one_line_naming_the_url(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:9/0"
    result = _run(["resume", "t-any"], _env(tmp_path, url), timeout=60)
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and repr(url) in result.stderr
