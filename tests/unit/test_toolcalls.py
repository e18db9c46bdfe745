"""Tool calls written as text, argument checks and output bounds: what a small model needs.

The replies are shaped as Qwen2.5-Coder-1.5B wrote them through llama.cpp's OpenAI-compatible
server with tools bound: the call as JSON text, often fenced, sometimes tagged, `tool_calls`
empty.
"""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field

from graph.models import ModelUsage
from nodes.llm import limits
from nodes.llm.limits import model_slot, output_bound, set_slots, was_cut, with_output_limit
from nodes.llm.toolcalls import argument_error, parse_text_call, recover
from nodes.llm.usage import Meter, RunBudget
from tests.fakes import ScriptedChatModel, ai_text, replies


class _Nav(BaseModel):
    url: str = Field(description="Absolute URL.")


class _NoArgs(BaseModel):
    """No arguments."""


async def _noop(**_: object) -> str:
    return "ok"


# Also the tools the smoke test offers the real local model (tests/integration/test_local_model.py).
TOOLS = [
    StructuredTool.from_function(
        coroutine=_noop, name="navigate", args_schema=_Nav, description="Load a page."
    ),
    StructuredTool.from_function(
        coroutine=_noop,
        name="read_text",
        args_schema=_NoArgs,
        description="Read the current page's text.",
    ),
]
NAMES = [t.name for t in TOOLS]


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "navigate", "arguments": {"url": "http://127.0.0.1:8001/"}}',
        '```json\n{"name": "navigate", "arguments": {"url": "http://127.0.0.1:8001/"}}\n```',
        '<tool_call>\n{"name": "navigate", "arguments": {"url": "http://127.0.0.1:8001/"}}\n'
        "</tool_call>",
        '{"name": "navigate", "arguments": "{\\"url\\": \\"http://127.0.0.1:8001/\\"}"}',
        '{"function": {"name": "navigate", "parameters": {"url": "http://127.0.0.1:8001/"}}}',
        '[{"name": "navigate", "args": {"url": "http://127.0.0.1:8001/"}}]',
        '{"navigate": {"url": "http://127.0.0.1:8001/"}}',
        # Recorded: Qwen2.5-Coder-1.5B through llama.cpp, first turn of the smoke test.
        '{{"name": "navigate", "arguments": {"url": "http://127.0.0.1:8001/"}}}',
    ],
    ids=[
        "bare",
        "fenced",
        "tagged",
        "string-args",
        "openai-shape",
        "one-item-list",
        "name-key",
        "recorded-double-braces",
    ],
)
def test_text_that_is_exactly_one_call_becomes_that_call(text: str) -> None:
    call = parse_text_call(text, NAMES)
    assert call is not None
    assert (call["name"], call["args"]) == ("navigate", {"url": "http://127.0.0.1:8001/"})
    reply, repaired = recover(AIMessage(content=text), TOOLS)
    assert repaired and reply.tool_calls[0]["name"] == "navigate" and reply.text == ""


@pytest.mark.parametrize(
    "text",
    [
        "I will navigate to the page now.",
        'Sure: {"name": "navigate", "arguments": {"url": "http://127.0.0.1:8001/"}}',
        '[{"name": "navigate", "arguments": {}}, {"name": "read_text", "arguments": {}}]',
        '{"name": "delete_everything", "arguments": {}}',
        '{"name": "navigate", "arguments": ["http://127.0.0.1:8001/"]}',
        '```json\n{"name": "navigate", "arguments": {"url": \n```',
    ],
    ids=["prose", "prose-around", "two-calls", "unknown-tool", "args-not-object", "cut-json"],
)
def test_anything_else_stays_text(text: str) -> None:
    assert parse_text_call(text, NAMES) is None
    reply, repaired = recover(AIMessage(content=text), TOOLS)
    assert not repaired and reply.tool_calls == []


def test_invalid_arguments_are_answered_with_the_validation_error() -> None:
    missing = argument_error({"name": "navigate", "args": {}, "id": "1"}, TOOLS)
    assert missing == (
        "invalid arguments for navigate: url: Field required. It takes: url (required: Absolute "
        'URL.). Write the call as {"name": "navigate", "arguments": {"url": "..."}}'
    )
    wrong = argument_error({"name": "navigate", "args": {"url": 3}, "id": "1"}, TOOLS)
    assert "url: Input should be a valid string" in wrong
    assert argument_error({"name": "navigate", "args": {"url": "/a"}, "id": "1"}, TOOLS) == ""


def test_the_output_bound_is_the_ceiling_lowered_to_the_budgets_left() -> None:
    assert output_bound("browser") == limits.OUTPUT_CEILINGS["browser"]
    assert output_bound("browser", None, 200) == 200
    assert output_bound("report", 10_000, None) == limits.OUTPUT_CEILINGS["report"]
    assert output_bound("analyst", 0) == 0
    model = ScriptedChatModel(script=replies(ai_text("x")))
    assert with_output_limit(model, 64).max_tokens == 64
    tighter = with_output_limit(model, 64)
    assert with_output_limit(tighter, 500) is tighter  # an existing lower bound stays


def test_a_reply_cut_at_its_bound_is_recognised_for_each_provider() -> None:
    for meta in (
        {"finish_reason": "length"},
        {"stop_reason": "max_tokens"},
        {"done_reason": "length"},
    ):
        assert was_cut(AIMessage(content="...", response_metadata=meta))
    assert not was_cut(AIMessage(content="ok", response_metadata={"finish_reason": "stop"}))


async def test_every_metered_call_carries_the_bound_and_cut_replies_are_counted() -> None:
    cut = AIMessage(content="{{{{{{", response_metadata={"finish_reason": "length"})
    model = ScriptedChatModel(script=replies(cut, ai_text("done")), name="m")
    meter = Meter(RunBudget(limit=1_000, spent=800), node="browser", model="m")
    await meter.call(meter.bounded(model), [])
    await meter.call(meter.bounded(model, 40), [])
    assert model.bounds == [200, 40]  # the run's 200 tokens left, then the subagent's 40
    assert meter.record.truncated == 1
    assert ModelUsage(node="x", model="m").truncated == 0


async def test_a_server_that_serves_one_at_a_time_gets_one_at_a_time() -> None:
    set_slots("one-slot-model", 1)
    running, most = 0, 0

    async def call() -> float:
        nonlocal running, most
        async with model_slot("one-slot-model") as waited:
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.05)
            running -= 1
            return waited

    async def limited_task() -> tuple[float, float]:
        async with asyncio.timeout(10) as limit:
            limits.DEADLINE.set(limit)
            before = limit.when() or 0.0
            waited = await call()
            return waited, (limit.when() or 0.0) - before

    results = await asyncio.gather(*(limited_task() for _ in range(3)))
    assert most == 1
    waits = sorted(w for w, _ in results)
    assert waits[0] < 0.02 and waits[2] >= 0.09
    # The time queued is given back to each subagent's time limit.
    for waited, extended in results:
        assert extended == pytest.approx(waited, abs=1e-6)
