"""A run's memory on AgentCore Memory, by configuration alone, against the local signed fake.

`Runner` with `Context.memory="agentcore"` keeps checkpoints, the thread's recorded settings
and the long-term insights in the fake AgentCore Memory (tests/agentcore_fake_memory.py) through
real, signed boto3 calls; the browser subagent and code sandbox are stand-ins
(tests/fake_sandboxes.py), as in test_runner.py. No Redis is started: the runner must not need
one.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from graph.builder import trust_only_our_models
from graph.context import Context
from graph.runner import Runner, memory_backend
from memory.agentcore import agentcore_saver
from memory.agentcore_store import insights_store
from memory.backend import MemoryUnavailable
from memory.insights import Insight, forget, recall, recall_with_keys, remember
from tests.agentcore_fake import ACCESS_KEY, SECRET_KEY, FakeAgentCore
from tests.fake_sandboxes import FakeCodeSessions, FakeSubagents, findings_checkpointed

pytestmark = pytest.mark.slow

MEMORY_ID = "flotillatest-a1b2c3d4e5"
QUESTION = "Compare the monthly price of each vendor's plans"
FIRST, SECOND = (f"http://127.0.0.1:{port}/" for port in (9211, 9212))
PRICES = {FIRST: [("Basic", "$4.00/mo")], SECOND: [("Solo", "$6.25/mo"), ("Duo", "$9.00/mo")]}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAgentCore]:
    with FakeAgentCore() as service:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", service.url)
        monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")  # touched: the test fails
        yield service


def _context(tmp_path: Path, **overrides: Any) -> Context:
    hosts = [url.removeprefix("http://").rstrip("/") for url in (FIRST, SECOND)]
    fields: dict[str, Any] = {
        "brain": "offline",
        "allow_hosts": hosts,
        "runs_dir": str(tmp_path / "runs"),
        "memory": "agentcore",
        "agentcore_memory_id": MEMORY_ID,
        "agentcore_actor_id": f"tester-{uuid.uuid4().hex[:6]}",
        "agentcore_region": "eu-west-1",
        "memory_namespace": "prices",
    }
    return Context(**(fields | overrides))


def _thread() -> str:
    return f"t-ac-{uuid.uuid4().hex[:12]}"


def _runner(ctx: Context, subagents: FakeSubagents, **kwargs: Any) -> Runner:
    # A resume finds the thread where the flags and environment say: here, the same backend.
    return Runner(
        subagent=subagents,
        code_sessions=FakeCodeSessions(),
        memory=memory_backend(ctx),
        **kwargs,
    )


async def test_a_plan_review_waits_and_resumes_on_agentcore_memory(
    fake: FakeAgentCore, tmp_path: Path
) -> None:
    ctx = _context(tmp_path, approve_plan=True)
    subagents = FakeSubagents(PRICES)
    thread = _thread()
    waiting = await _runner(ctx, subagents).run(QUESTION, [FIRST, SECOND], ctx, thread=thread)
    assert waiting.waiting and not subagents.calls

    # The resume knows nothing but the thread and where the memory is: settings from AgentCore.
    def approve(request: dict[str, Any], thread_id: str) -> Any:
        assert thread_id == thread
        return True

    done = await _runner(ctx, subagents, review=approve).resume(thread)
    assert not done.waiting and done.usable
    assert [s["status"] for s in done.output["subagents"]] == ["ok", "ok"]
    assert Path(done.output["report_path"]).is_relative_to(tmp_path / "runs")
    calls = Counter(fake.calls)
    assert calls["CreateEvent"] and calls["ListEvents"] and calls["BatchCreateMemoryRecords"]
    # Everything is the actor's: checkpoints, its settings beside them, the insights.
    actors = {actor for (_, actor, _) in fake.memory.events}
    assert actors == {ctx.agentcore_actor_id, f"{ctx.agentcore_actor_id}:settings"}
    namespaces = {n for r in fake.memory.records.records[MEMORY_ID] for n in r["namespaces"]}
    assert namespaces == {f"/actors/{ctx.agentcore_actor_id}/insights/prices"}

    # The next run of this actor recalls them before planning, naming the run they came from.
    again = await _runner(ctx, subagents).run(
        QUESTION, [FIRST], replace(ctx, approve_plan=False), thread=_thread()
    )
    recalled = again.values["plan"].recalled
    assert recalled and all(f"from run {thread}" in line for line in recalled)
    assert calls["RetrieveMemoryRecords"] < Counter(fake.calls)["RetrieveMemoryRecords"]


async def test_a_killed_run_resumes_on_agentcore_memory_without_rerunning_finished_work(
    fake: FakeAgentCore, tmp_path: Path
) -> None:
    ctx = _context(tmp_path)

    async def first_checkpointed(thread_id: str) -> None:
        saver = agentcore_saver(
            MEMORY_ID, region="eu-west-1", endpoint_url=fake.url, actor_id=ctx.agentcore_actor_id
        )
        await findings_checkpointed(trust_only_our_models(saver), thread_id, 1)

    subagents = FakeSubagents(PRICES, crash_once={SECOND}, before_crash=first_checkpointed)
    thread = _thread()
    with pytest.raises(RuntimeError, match="process was killed"):
        await _runner(ctx, subagents).run(QUESTION, [FIRST, SECOND], ctx, thread=thread)
    result = await _runner(ctx, subagents).resume(thread)
    assert [s["status"] for s in result.output["subagents"]] == ["ok", "ok"]
    assert subagents.calls.count(FIRST) == 1, "the branch that finished is not run again"
    assert subagents.calls.count(SECOND) == 2


async def test_memory_throttling_is_retried_and_past_retries_stops_naming_resume(
    fake: FakeAgentCore, tmp_path: Path
) -> None:
    ctx = _context(tmp_path, max_parallel=1)
    saver = agentcore_saver(
        MEMORY_ID, region="eu-west-1", endpoint_url=fake.url, actor_id=ctx.agentcore_actor_id
    )

    class ThrottledMidRun(FakeSubagents):
        """Once the first branch is checkpointed, the memory throttles `times` writes."""

        times = 0

        async def __call__(self, task: Any, ctx: Context, **kwargs: Any) -> Any:
            if task.url == SECOND and self.times:
                await findings_checkpointed(trust_only_our_models(saver), kwargs["thread_id"], 1)
                fake.faults["CreateEvent"] = ["ThrottlingException"] * self.times
                self.times = 0
            return await super().__call__(task, ctx, **kwargs)

    subagents = ThrottledMidRun(PRICES)

    def throttle(times: int) -> Runner:
        subagents.times = times
        return _runner(ctx, subagents)

    # A short burst of throttling mid-run (after the first branch): botocore's retries absorb it.
    thread = _thread()
    calls_before = len(fake.calls)
    done = await throttle(2).run(QUESTION, [FIRST, SECOND], ctx, thread=thread)
    assert done.usable and [s["status"] for s in done.output["subagents"]] == ["ok", "ok"]
    assert fake.calls[calls_before:].count("CreateEvent") >= 2

    # Throttled beyond the retries: the run stops, one message naming the resume.
    thread = _thread()
    with pytest.raises(MemoryUnavailable) as stopped:
        await throttle(50).run(QUESTION, [FIRST, SECOND], ctx, thread=thread)
    message = str(stopped.value)
    assert "ThrottlingException" in message and f"flotilla resume {thread}" in message
    assert MEMORY_ID in message
    assert not isinstance(stopped.value.__cause__, Exception)  # no traceback chain to show

    fake.faults["CreateEvent"].clear()  # the fault clears
    before = subagents.calls.count(FIRST)
    resumed = await _runner(ctx, subagents).resume(thread)
    assert [s["status"] for s in resumed.output["subagents"]] == ["ok", "ok"]
    assert subagents.calls.count(FIRST) == before, "the finished branch is not run again"


async def test_insights_are_remembered_and_recalled_through_agentcore_memory_store(
    fake: FakeAgentCore,
) -> None:
    store = insights_store(MEMORY_ID, actor_id="alice", region="eu-west-1", endpoint_url=fake.url)
    other = insights_store(MEMORY_ID, actor_id="bob", region="eu-west-1", endpoint_url=fake.url)
    insights = [
        Insight(
            claim=f"Plan {n} costs ${n}.00 a month",
            value=f"${n}.00",
            thread_id="t1",
            source_url=f"http://127.0.0.1:9/plan-{n}",
            question="plan prices",
        )
        for n in range(130)
    ]
    keys = await remember(store, "prices", insights)
    await remember(store, "prices", insights[:3])  # the same findings again: updated, not added
    assert len(fake.memory.records.records[MEMORY_ID]) == 130
    assert fake.calls.count("BatchCreateMemoryRecords") == 2, "new records go 100 a call"
    assert fake.calls.count("BatchUpdateMemoryRecords") == 3

    found = await recall(store, "prices", "what does plan 7 cost", limit=5)
    assert found and found[0].claim == "Plan 7 costs $7.00 a month"
    assert found[0].source_url == "http://127.0.0.1:9/plan-7"
    assert await recall(other, "prices", "what does plan 7 cost") == [], "another actor's"

    # Listing (no content words) walks ListMemoryRecords' pages: all 130 are there.
    listed = await recall_with_keys(store, "prices", "", limit=500)
    assert {key for key, _ in listed} == set(keys)
    assert fake.calls.count("ListMemoryRecords") >= 2

    assert await forget(store, "prices", keys[7])
    assert not await forget(store, "prices", keys[7])
    assert all(i.claim != insights[7].claim for i in await recall(store, "prices", "plan 7"))

    fake.faults["RetrieveMemoryRecords"] = ["ThrottlingException", "ThrottlingException"]
    assert await recall(store, "prices", "plan 9 cost")


async def test_a_retried_write_is_stored_once(fake: FakeAgentCore) -> None:
    """A write AWS stored but whose answer was lost is retried with the same client token."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "bedrock-agentcore",
        region_name="eu-west-1",
        endpoint_url=fake.url,
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    tokens: list[str] = []

    def record_token(params: dict[str, Any], **_: Any) -> None:
        tokens.append(json.loads(params["body"])["clientToken"])  # botocore fills it per call

    client.meta.events.register("before-call.bedrock-agentcore.*", record_token)
    fake.faults["BatchCreateMemoryRecords"] = ["ThrottlingException"]
    fake.faults["CreateEvent"] = ["ThrottlingException"]
    record = {
        "requestIdentifier": "r0",
        "namespaces": ["/actors/a/insights/x"],
        "content": {"text": "{}"},
        "timestamp": 0,
    }
    client.batch_create_memory_records(memoryId=MEMORY_ID, records=[record])
    client.batch_create_memory_records(
        memoryId=MEMORY_ID, records=[record], clientToken=tokens[-1]
    )  # as a retry after a lost answer sends it
    assert len(fake.memory.records.records[MEMORY_ID]) == 1
    assert fake.calls.count("BatchCreateMemoryRecords") == 3  # throttled, retried, repeated
    payload = [{"blob": "x"}]
    event = {"memoryId": MEMORY_ID, "actorId": "a", "sessionId": "s", "eventTimestamp": 0}
    client.create_event(**event, payload=payload)
    client.create_event(**event, payload=payload, clientToken=tokens[-1])
    assert len(fake.memory.events[(MEMORY_ID, "a", "s")]) == 1
    assert fake.calls.count("CreateEvent") == 3  # throttled, retried, repeated: one event
