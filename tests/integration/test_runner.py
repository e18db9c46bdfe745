"""`graph.runner.Runner` on a real Redis: runs, crashes, resumes and plan reviews of threads.

The graph runs for real over the embedded Redis (saver, store, recorded settings); only the
browser subagent and the code sandbox are stand-ins (tests/fake_sandboxes.py), so these tests
exercise the orchestration the CLI and the bench share without Chromium or a jail.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from graph.builder import trust_only_our_models
from graph.context import Context
from graph.runner import OUTPUT_KEYS, Runner, ThreadError
from memory.checkpoint import redis_saver
from tests.fake_sandboxes import FakeCodeSessions, FakeSubagents, findings_checkpointed

pytestmark = pytest.mark.slow

QUESTION = "Compare the monthly price of each vendor's plans"
FIRST, SECOND = (f"http://127.0.0.1:{port}/" for port in (9201, 9202))
PRICES = {FIRST: [("Basic", "$4.00/mo")], SECOND: [("Solo", "$6.25/mo"), ("Duo", "$9.00/mo")]}


def _context(tmp_path: Path, **overrides: Any) -> Context:
    hosts = [url.removeprefix("http://").rstrip("/") for url in (FIRST, SECOND)]
    return Context(
        brain="offline",
        allow_hosts=hosts,
        runs_dir=str(tmp_path / "runs"),
        memory_namespace=f"runner-{uuid.uuid4().hex[:8]}",
        **overrides,
    )


def _thread() -> str:
    return f"t-runner-{uuid.uuid4().hex[:12]}"


async def test_a_crashed_run_resumes_with_the_settings_it_recorded(
    redis_server_url: str, tmp_path: Path
) -> None:
    async def first_checkpointed(thread_id: str) -> None:
        async with redis_saver(redis_server_url) as saver:
            await findings_checkpointed(trust_only_our_models(saver), thread_id, 1)

    subagents = FakeSubagents(PRICES, crash_once={SECOND}, before_crash=first_checkpointed)
    events: list[dict[str, Any]] = []
    runner = Runner(
        redis_url=redis_server_url,
        on_event=events.append,
        subagent=subagents,
        code_sessions=FakeCodeSessions(),
    )
    thread = _thread()
    with pytest.raises(RuntimeError, match="process was killed"):
        await runner.run(QUESTION, [FIRST, SECOND], _context(tmp_path), thread=thread)
    assert any(e["event"] == "plan" for e in events)

    # The thread has an unfinished run: a new question on it is refused, saying what to do.
    with pytest.raises(ThreadError, match=f"flotilla resume {thread}"):
        await runner.run(QUESTION, [FIRST], _context(tmp_path), thread=thread)

    # A resume needs only the thread id: the settings come from Redis (runs_dir included).
    result = await Runner(
        redis_url=redis_server_url, subagent=subagents, code_sessions=FakeCodeSessions()
    ).resume(thread)
    assert result.thread_id == thread and result.usable and not result.waiting
    assert tuple(result.output) == OUTPUT_KEYS
    assert Path(result.output["report_path"]).is_relative_to(tmp_path / "runs")
    html = Path(result.output["report_html"])
    assert html.is_file() and html.parent == Path(result.output["report_path"]).parent
    assert [row["status"] for row in result.output["subagents"]] == ["ok", "ok"]
    assert subagents.calls.count(FIRST) == 1, "the branch that finished is not run again"
    assert subagents.calls.count(SECOND) == 2


async def test_a_plan_review_nobody_answers_waits_for_the_resume(
    redis_server_url: str, tmp_path: Path
) -> None:
    subagents, thread = FakeSubagents(PRICES), _thread()
    ctx = _context(tmp_path, approve_plan=True)
    shown: list[dict[str, Any]] = []

    def nobody(request: dict[str, Any], thread_id: str) -> None:
        shown.append(request)

    waiting = await Runner(redis_url=redis_server_url, review=nobody, subagent=subagents).run(
        QUESTION, [FIRST, SECOND], ctx, thread=thread
    )
    assert waiting.waiting and not waiting.usable and not subagents.calls
    assert [t["url"] for t in shown[0]["plan"]["tasks"]] == [FIRST, SECOND]

    def keep_the_second(request: dict[str, Any], thread_id: str) -> dict[str, Any]:
        assert thread_id == thread
        return {"tasks": [t for t in request["plan"]["tasks"] if t["url"] == SECOND]}

    done = await Runner(
        redis_url=redis_server_url,
        review=keep_the_second,
        subagent=subagents,
        code_sessions=FakeCodeSessions(),
    ).resume(thread)
    assert not done.waiting and done.usable
    assert subagents.calls == [SECOND]
    assert [row["site"] for row in done.output["subagents"]] == [SECOND]
    assert done.values["plan"].review == "edited"


async def test_resuming_a_thread_that_does_not_exist_says_so(redis_server_url: str) -> None:
    thread = _thread()
    with pytest.raises(ThreadError, match=f"there is no thread '{thread}'"):
        await Runner(redis_url=redis_server_url).resume(thread)
