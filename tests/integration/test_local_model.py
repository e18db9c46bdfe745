"""Smoke test against the real local model: a plan, a tool call, a repair, the output bound.

Runs only where `make setup-local-model` has installed the model (skipped with that reason
elsewhere). It uses one thread (`FLOTILLA_LOCAL_THREADS`, default 1 here: the machine is
shared) and a 4k context, and keeps its prompts short; no reply is scripted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from graph.context import Context
from nodes.llm import local_model
from nodes.llm.constrained import as_tool_call, constrained, supports_schema_turns, tools_text
from nodes.llm.limits import MIN_OUTPUT_TOKENS
from nodes.llm.toolcalls import argument_error, recover
from nodes.llm.usage import Meter, RunBudget
from nodes.plan.llm import plan_with_model
from tests.unit.test_toolcalls import TOOLS

pytestmark = [
    pytest.mark.slow,
    # One thread on a shared 2-core machine: a 300-token plan has taken 4 minutes under load.
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        bool(local_model.missing()), reason=local_model.missing() or "the local model is installed"
    ),
]

URL = "http://127.0.0.1:8001/"


SYSTEM = "You browse one web site with tools. Reply with exactly one tool call."


@pytest.fixture(scope="module")
def model() -> Iterator[object]:
    os.environ.setdefault("FLOTILLA_LOCAL_THREADS", "1")
    os.environ.setdefault("FLOTILLA_LOCAL_CONTEXT", "4096")
    from nodes.llm.chat import chat_model

    yield chat_model(Context(model="local"), "browser")


async def test_the_local_model_plans_with_structured_output(model) -> None:
    started = time.monotonic()
    meter = Meter(RunBudget(limit=0), node="coordinator", model=local_model.MODEL_NAME)
    plan = await plan_with_model(
        "Compare the monthly prices of the plans", [URL], [], Context(), model, meter, 1
    )
    print(f"plan: {time.monotonic() - started:.1f} s, {meter.record}")
    assert plan.planner == local_model.MODEL_NAME, plan.notes  # not the offline fallback
    assert [t.url for t in plan.tasks] == [URL]
    assert plan.tasks[0].goal.strip()


async def test_the_local_model_calls_a_bound_tool(model) -> None:
    meter = Meter(RunBudget(limit=0), node="browser", model=local_model.MODEL_NAME)
    messages = [SystemMessage(SYSTEM), HumanMessage(f"Start by loading {URL}.")]
    reply = await meter.call(meter.bounded(model).bind_tools(TOOLS), messages)
    call_reply, repaired = recover(reply, TOOLS)
    print(f"tool call: repaired={repaired} text={reply.text!r} calls={reply.tool_calls}")
    (call,) = call_reply.tool_calls
    assert call["name"] == "navigate" and argument_error(call, TOOLS) == ""
    assert call["args"]["url"].rstrip("/") == URL.rstrip("/")


async def test_the_local_models_constrained_turn_is_one_call(model) -> None:
    meter = Meter(RunBudget(limit=0), node="browser", model=local_model.MODEL_NAME)
    assert supports_schema_turns(model)
    system = f"{SYSTEM}\n\n{tools_text(TOOLS)}"
    messages = [SystemMessage(system), HumanMessage(f"Start by loading {URL}.")]
    reply = await meter.call(constrained(meter.bounded(model), TOOLS), messages)
    fixed = as_tool_call(reply, TOOLS)
    print(f"constrained: text={reply.text!r} {meter.record}")
    assert fixed is not None, reply.text
    (call,) = fixed.tool_calls
    assert call["name"] == "navigate" and argument_error(call, TOOLS) == ""


async def test_the_local_model_repairs_a_call_from_the_validation_error(model) -> None:
    meter = Meter(RunBudget(limit=0), node="browser", model=local_model.MODEL_NAME)
    bad = {"name": "navigate", "args": {}, "id": "call_1", "type": "tool_call"}
    error = argument_error(bad, TOOLS)  # type: ignore[arg-type]
    messages = [
        SystemMessage(SYSTEM),
        HumanMessage(f"Start by loading {URL}."),
        AIMessage(content="", tool_calls=[bad]),  # type: ignore[list-item]
        ToolMessage(
            content=f"error: {error} Call it again with valid arguments.",
            tool_call_id="call_1",
            name="navigate",
            status="error",
        ),
    ]
    reply = await meter.call(meter.bounded(model).bind_tools(TOOLS), messages)
    fixed, repaired = recover(reply, TOOLS)
    print(f"repair: repaired={repaired} text={reply.text!r} calls={reply.tool_calls}")
    (call,) = fixed.tool_calls
    assert call["name"] == "navigate" and argument_error(call, TOOLS) == ""


async def test_the_local_model_stops_at_the_output_bound(model) -> None:
    meter = Meter(RunBudget(limit=0), node="report", model=local_model.MODEL_NAME)
    messages = [HumanMessage("Count from 1 to 500, one number per line.")]
    await meter.call(meter.bounded(model, 16), messages)  # a subagent with 16 tokens left
    # Cut at the server, at the bound's floor (a call always gets room for one tool call).
    assert meter.record.truncated == 1
    assert meter.record.output_tokens <= MIN_OUTPUT_TOKENS
