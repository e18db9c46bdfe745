"""`langgraph-checkpoint-conformance` against the AgentCore Memory saver, on the local fake.

The saver (``memory.agentcore``, upstream's ``AgentCoreMemorySaver`` with a default actor) talks
through real, signed boto3 calls to the fake AgentCore Memory on loopback (tests/agentcore_fake):
events are kept per actor and session and listed newest first in pages of ``maxResults``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance.capabilities import BASE_CAPABILITIES

from memory.agentcore import agentcore_saver
from tests.agentcore_fake import ACCESS_KEY, SECRET_KEY, FakeAgentCore
from tests.conformance.test_saver_conformance import _conformance, _summary

pytestmark = pytest.mark.slow

# What upstream's saver (langgraph-checkpoint-aws 1.2.6) does not pass, by (capability, test),
# measured on this fake; listed so that a change either way is seen. put_writes appends a new
# event on every call (a retried task's writes are stored twice); delete_thread deletes the
# thread's root session only, not the sessions of its subgraph namespaces.
KNOWN_UPSTREAM_FAILURES = {
    ("put_writes", "test_put_writes_idempotent"),
    ("delete_thread", "test_delete_thread_removes_all_namespaces"),
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAgentCore]:
    with FakeAgentCore() as service:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        yield service


async def test_agentcore_memory_saver_on_the_fake(fake: FakeAgentCore) -> None:
    @asynccontextmanager
    async def make() -> AsyncIterator[BaseCheckpointSaver]:
        yield agentcore_saver("mem-conformance-1", region="eu-west-1", endpoint_url=fake.url)

    report, failures = await _conformance("agentcore-memory", make)
    assert failures == KNOWN_UPSTREAM_FAILURES, f"{sorted(failures)}; {_summary(report)}"
    detected = {cap for cap, r in report.results.items() if r.detected}
    assert {c.value for c in BASE_CAPABILITIES} <= detected
    assert "ListEvents" in fake.calls and "CreateEvent" in fake.calls


async def test_a_long_thread_reads_back_through_every_page(fake: FakeAgentCore) -> None:
    """More events than one ListEvents page (the saver asks 100 at a time): nothing is lost."""
    from langgraph.checkpoint.base import empty_checkpoint

    saver = agentcore_saver("mem-pages-0001", region="eu-west-1", endpoint_url=fake.url)
    config = {"configurable": {"thread_id": "long", "checkpoint_ns": ""}}
    for step in range(130):
        checkpoint = empty_checkpoint()
        config = await saver.aput(config, checkpoint, {"step": step}, {})
    steps = [t.metadata["step"] async for t in saver.alist({"configurable": {"thread_id": "long"}})]
    assert sorted(steps) == list(range(130))
    assert fake.calls.count("ListEvents") >= 2


async def test_throttled_writes_are_retried(fake: FakeAgentCore) -> None:
    from langgraph.checkpoint.base import empty_checkpoint

    fake.faults["CreateEvent"] = ["ThrottlingException", "ThrottlingException"]
    saver = agentcore_saver("mem-throttle-0001", region="eu-west-1", endpoint_url=fake.url)
    config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    stored = await saver.aput(config, empty_checkpoint(), {"step": 1}, {})
    assert (await saver.aget_tuple(stored)) is not None
    assert fake.calls.count("CreateEvent") == 3
