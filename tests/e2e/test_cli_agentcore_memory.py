"""`flotilla research --memory agentcore` and `flotilla resume` against the local signed fake.

The CLI runs in a subprocess (real Chromium on the demo sites, served by the test process) and
keeps its checkpoints, thread settings and insights in the fake AgentCore Memory, which lives in
the test process and so outlives a killed CLI. `REDIS_URL` names a closed port: a run that
touched Redis would fail.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo_sites.server import DemoSites
from graph.builder import trust_only_our_models
from memory.agentcore import agentcore_saver
from tests.agentcore_fake import ACCESS_KEY, SECRET_KEY, FakeAgentCore
from tests.integration.test_resume import LATENCY_S, _env, _research_args, _Running, _started

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

MEMORY_ID = "flotillacli-a1b2c3d4e5"
MEMORY_FLAGS = ["--memory", "agentcore", "--memory-id", MEMORY_ID]
# The fake holds AWS credentials, which would make `auto` pick Bedrock: the offline brain runs.
OFFLINE = ["--brain", "offline"]


@pytest.fixture
def sites() -> Iterator[DemoSites]:
    with DemoSites(latency_s=LATENCY_S) as served:
        yield served


@pytest.fixture
def fake() -> Iterator[FakeAgentCore]:
    with FakeAgentCore() as service:
        yield service


def _agentcore_env(tmp_path: Path, fake: FakeAgentCore) -> dict[str, str]:
    env = _env(tmp_path, "redis://127.0.0.1:9/0")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "FLOTILLA_MEMORY"):
        env.pop(name, None)
    return env | {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": fake.url,
        "FLOTILLA_AGENTCORE_REGION": "eu-west-1",
    }


def _cli(
    args: list[str], env: dict[str, str], *, answer: str = "", timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        input=answer,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_a_plan_review_waits_in_agentcore_memory_and_resume_runs_it(
    tmp_path: Path, sites: DemoSites, fake: FakeAgentCore
) -> None:
    env = _agentcore_env(tmp_path, fake)
    asked = _cli([*_research_args(sites, "t-ac-review"), "--approve", *OFFLINE, *MEMORY_FLAGS], env)
    assert "no answer: the plan waits; run `flotilla resume t-ac-review`" in asked.stderr
    assert not _started(asked.stderr)

    resumed = _cli(["resume", "t-ac-review", "--json", *MEMORY_FLAGS], env, answer="1 3\n")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = json.loads(resumed.stdout)
    assert [s["task_id"] for s in out["subagents"]] == ["site-1", "site-3"]
    assert {s["status"] for s in out["subagents"]} == {"ok"}
    assert Path(out["report_path"]).is_file()

    history = _cli(["history", "t-ac-review", "--json", *MEMORY_FLAGS], env, timeout=60)
    assert history.returncode == 0, history.stderr[-2000:]
    wrote = {name for row in json.loads(history.stdout)["checkpoints"] for name in row["wrote"]}
    assert {"coordinator", "browser×2", "analyst", "report", "remember"} <= wrote

    # The insights it remembered are in AgentCore Memory, and `flotilla memory` finds them.
    listed = _cli(["memory", "list", "--json", *MEMORY_FLAGS], env, timeout=60)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert {i["thread_id"] for i in json.loads(listed.stdout)["insights"]} == {"t-ac-review"}
    calls = Counter(fake.calls)
    assert calls["BatchCreateMemoryRecords"] and calls["ListMemoryRecords"]

    unknown = _cli(["resume", "t-ac-nobody", *MEMORY_FLAGS], env, timeout=60)
    assert unknown.returncode == 2
    assert f"no thread 't-ac-nobody' in AgentCore Memory '{MEMORY_ID}'" in unknown.stderr

    missing = _cli(["resume", "t-ac-review", "--memory", "agentcore"], env, timeout=60)
    assert missing.returncode == 2
    assert "Context.agentcore_memory_id: is required" in missing.stderr


async def _finished(fake: FakeAgentCore, thread: str) -> set[str]:
    saver = trust_only_our_models(
        agentcore_saver(MEMORY_ID, region="eu-west-1", endpoint_url=fake.url)
    )
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    tup = await saver.aget_tuple(config)
    if tup is None:
        return set()
    writes = tup.pending_writes or []
    return {f.task_id for _, channel, value in writes if channel == "findings" for f in value}


async def test_a_killed_run_on_agentcore_memory_resumes_without_rerunning_finished_branches(
    tmp_path: Path, sites: DemoSites, fake: FakeAgentCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _agentcore_env(tmp_path, fake)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)  # for the test's own reads
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    killed = _Running([*_research_args(sites, "t-ac-killed"), *OFFLINE, *MEMORY_FLAGS], env)
    deadline = time.monotonic() + 120
    done: set[str] = set()
    while not done:
        assert killed.proc.poll() is None, "the run ended before any branch was checkpointed"
        assert time.monotonic() < deadline, "no branch finished within 120 s"
        done = await _finished(fake, "t-ac-killed")
        await asyncio.sleep(0.1)
    killed.proc.send_signal(signal.SIGKILL)
    _, _, before_kill = killed.finish()
    assert len(done) < 3, "the kill came too late: every branch had finished"

    resumed = _cli(["resume", "t-ac-killed", "--json", *MEMORY_FLAGS], env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = json.loads(resumed.stdout)
    assert [s["status"] for s in out["subagents"]] == ["ok", "ok", "ok"]
    assert done <= _started(before_kill)
    assert _started(resumed.stderr) == {"site-1", "site-2", "site-3"} - done
