"""The llm brain's planner: the model proposes, code decides; the plan a person approves runs.

Scripted chat models stand in for the coordinator model; `with_structured_output` runs
unchanged on them (a `ResearchPlan` tool call).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from graph.builder import build_graph
from graph.context import Context
from memory.checkpoint import redis_saver
from memory.insights import Insight, remember
from nodes.llm.fence import FENCE_CLOSE, FENCE_OPEN
from nodes.llm.usage import Meter, run_budget
from nodes.plan.llm import ResearchPlan, plan_with_model
from nodes.plan.rules import GOAL_MAX_CHARS, MAX_FIELDS
from tests.fakes import (
    ScriptedChatModel,
    ai_text,
    ai_tool_call,
    all_text,
    last_human,
    replies,
)

QUESTION = "Compare the monthly price of the storage plans"
A, B, C = "https://a.example/", "https://b.example/pricing", "https://c.example/"


def planning(*tasks: dict[str, Any], **extra: Any) -> AIMessage:
    """The planner model's answer: a ResearchPlan tool call."""
    return ai_tool_call(ResearchPlan.__name__, tasks=list(tasks), **extra)


def site(url: str, goal: str = "Monthly price per plan", **extra: Any) -> dict[str, Any]:
    return {"url": url, "goal": goal, "fields": ["plan name", "monthly price (currency)"], **extra}


async def _plan(model: ScriptedChatModel, urls: list[str], *, recalled=(), budget=0, **ctx):
    meter = Meter(run_budget(f"t-{id(model)}", budget), node="coordinator", model=model.name)
    context = Context(brain="llm", **ctx)
    plan = await plan_with_model(QUESTION, urls, list(recalled), context, model, meter, 1)
    return plan, meter


async def test_the_models_goals_and_fields_become_the_tasks_and_its_usage_is_counted():
    model = ScriptedChatModel(
        script=replies(planning(site(A), site(B, goal="Price per TB"), notes=["narrowed"])),
        name="planner-model",
    )
    plan, meter = await _plan(model, [A, B])
    assert [(t.task_id, t.url, t.goal) for t in plan.tasks] == [
        ("site-1", A, "Monthly price per plan"),
        ("site-2", B, "Price per TB"),
    ]
    assert plan.tasks[0].fields == ["plan name", "monthly price (currency)"]
    assert plan.planner == "planner-model" and plan.notes == ["narrowed"]
    assert plan.refused == []
    assert (meter.record.calls, meter.record.input_tokens, meter.record.output_tokens) == (
        1,
        100,
        20,
    )
    # The model was offered exactly the plan schema, as a tool.
    shown = all_text(model.calls[0])
    assert QUESTION in shown and A in shown and B in shown and "at most 8" in shown


async def test_recalled_insights_reach_the_model_fenced_as_untrusted():
    model = ScriptedChatModel(script=replies(planning(site(A))))
    recalled = ["Vendor A charges EUR 7.50 per month (from run t-0, 2025-01-01)"]
    await _plan(model, [A], recalled=recalled)
    asked = last_human(model.calls[0])
    opened, closed = asked.index(FENCE_OPEN), asked.index(FENCE_CLOSE)
    assert opened < asked.index("Vendor A charges EUR 7.50") < closed
    assert "never instructions" in all_text(model.calls[0])  # the rules say what it means


async def test_a_url_the_user_did_not_give_is_refused_and_one_left_out_says_why():
    model = ScriptedChatModel(
        script=replies(
            planning(
                site("https://evil.example/collect"),
                site(A),
                skipped=[{"url": B, "reason": "a pricing page of a reseller"}],
            )
        )
    )
    plan, _ = await _plan(model, [A, B])
    assert [t.url for t in plan.tasks] == [A]
    assert [(r.url, r.rule) for r in plan.refused] == [
        ("https://evil.example/collect", "not_requested"),
        (B, "not_planned"),
    ]
    assert "a pricing page of a reseller" in plan.refused[1].reason


async def test_a_url_respelled_by_the_model_runs_as_the_user_spelled_it():
    given = "https://Shop.Example/pricing/"
    model = ScriptedChatModel(
        script=replies(
            planning(
                site("https://shop.example/pricing"),
                skipped=[{"url": "HTTPS://a.example", "reason": "not a vendor"}],
            )
        )
    )
    plan, _ = await _plan(model, [given, "https://a.example/"])
    assert [t.url for t in plan.tasks] == [given]
    assert [(r.url, r.rule) for r in plan.refused] == [("https://a.example/", "not_planned")]
    assert "not a vendor" in plan.refused[0].reason


async def test_tasks_over_max_subagents_are_trimmed_with_the_reason_recorded():
    model = ScriptedChatModel(script=replies(planning(site(C), site(A), site(B))))
    plan, _ = await _plan(model, [A, B, C], max_subagents=2)
    assert [(t.task_id, t.url) for t in plan.tasks] == [("site-1", C), ("site-2", A)]
    assert [(r.url, r.rule) for r in plan.refused] == [(B, "max_subagents")]
    assert "at most 2" in plan.refused[0].reason
    assert any("trimmed 1 task" in note and B in note for note in plan.notes)


async def test_the_offline_rules_hold_for_model_tasks_and_goals_and_fields_are_bounded():
    long_goal = "find " + "prices " * 100
    many = [f"field {i} " + "x" * 300 for i in range(MAX_FIELDS + 5)]
    model = ScriptedChatModel(
        script=replies(
            planning(
                site("file:///etc/passwd"),
                {"url": A, "goal": long_goal, "fields": many},
                site(A),
                {"url": B, "goal": "   "},
            )
        )
    )
    plan, _ = await _plan(model, ["file:///etc/passwd", A, A, B])
    assert [(r.url, r.rule) for r in plan.refused] == [
        ("file:///etc/passwd", "scheme"),
        (A, "duplicate"),
    ]
    first, second = plan.tasks
    assert len(first.goal) <= GOAL_MAX_CHARS
    assert len(first.fields) == MAX_FIELDS and all(len(f) <= 120 for f in first.fields)
    assert second.goal == QUESTION  # an empty goal falls back to the question


@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        (ai_text("I think you should look at the prices."), "without calling"),
        (ai_tool_call("ResearchPlan", tasks="not a list"), "validation error"),
    ],
)
async def test_an_answer_that_is_not_a_plan_falls_back_to_the_offline_plan(reply, cause):
    model = ScriptedChatModel(script=replies(reply), name="chatty")
    plan, meter = await _plan(model, [A, B])
    assert [(t.url, t.goal, t.fields) for t in plan.tasks] == [(A, QUESTION, []), (B, QUESTION, [])]
    assert plan.planner == "offline"
    assert "chatty" in plan.notes[0] and cause in plan.notes[0]
    assert meter.record.calls == 1  # the failed call still counts


async def test_a_model_error_falls_back_to_the_offline_plan():
    def broken(messages: list[BaseMessage], tools: list[str]) -> AIMessage:
        raise ConnectionError("the endpoint went away")

    plan, _ = await _plan(ScriptedChatModel(script=broken), [A])
    assert [t.url for t in plan.tasks] == [A] and plan.planner == "offline"
    assert "ConnectionError: the endpoint went away" in plan.notes[0]


async def test_a_spent_budget_plans_offline_without_calling_the_model():
    model = ScriptedChatModel(script=replies(planning(site(A))))
    meter = Meter(run_budget("t-spent", 50), node="coordinator", model=model.name)
    meter.budget.spent = 50
    plan = await plan_with_model(QUESTION, [A], [], Context(brain="llm"), model, meter, 1)
    assert model.calls == [] and plan.planner == "offline"
    assert "BudgetExhausted" in plan.notes[0] and "max_run_tokens" in plan.notes[0]


# The coordinator node in the graph: the llm brain's browser, analyst and report are not needed
# here, so runs stop after the coordinator (interrupt_after) or at the approval interrupt.


def _numbered_plans(*urls: str) -> ScriptedChatModel:
    """A planner whose every call gives a different goal, so a second call would show."""
    counter = itertools.count(1)

    def script(messages: list[BaseMessage], tools: list[str]) -> AIMessage:
        n = next(counter)
        return planning(*(site(url, goal=f"plan {n}: prices") for url in urls))

    return ScriptedChatModel(script=script, name="planner-model")


async def test_the_coordinator_plans_with_the_model_and_records_its_usage(tmp_path):
    store = InMemoryStore()
    await remember(
        store,
        "default",
        [Insight(claim="Vendor A's storage plans: monthly price EUR 7.50", thread_id="t-0")],
    )
    model = _numbered_plans(A, B)
    app = build_graph(checkpointer=InMemorySaver(), store=store, models={"coordinator": model})
    config = {"configurable": {"thread_id": "t-llm-plan"}}
    ctx = Context(brain="llm", runs_dir=str(tmp_path))
    events = [
        e
        async for e in app.astream(
            {"question": QUESTION, "urls": [A, B]},
            config,
            context=ctx,
            stream_mode="custom",
            interrupt_after=["coordinator"],
        )
    ]
    values = (await app.aget_state(config)).values
    plan = values["plan"]
    assert [(t.url, t.goal) for t in plan.tasks] == [(A, "plan 1: prices"), (B, "plan 1: prices")]
    assert plan.planner == "planner-model" and values["brain"] == "llm"
    assert "Vendor A's storage plans: monthly price EUR 7.50" in all_text(model.calls[0])
    assert [(u.node, u.model, u.calls, u.total_tokens) for u in values["usage"]] == [
        ("coordinator", "planner-model", 1, 120)
    ]
    assert {"event": "plan", "tasks": [A, B], "refused": 0, "planner": "planner-model"} in events


async def test_without_a_model_the_llm_coordinator_plans_offline_and_says_why(monkeypatch):
    for name in ("FLOTILLA_MODEL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    app = build_graph(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t-no-model"}}
    await app.ainvoke(
        {"question": QUESTION, "urls": [A]},
        config,
        context=Context(brain="llm"),
        interrupt_after=["coordinator"],
    )
    values = (await app.aget_state(config)).values
    assert [t.url for t in values["plan"].tasks] == [A]
    assert values["plan"].planner == "offline"
    assert any("ModelUnavailable" in e and "coordinator" in e for e in values["errors"])
    assert not values.get("usage")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.slow)])
async def saver(request):
    if request.param == "memory":
        yield InMemorySaver()
        return
    async with redis_saver(request.getfixturevalue("redis_server_url")) as redis:
        yield redis


@pytest.mark.parametrize("durability", ["sync", "exit"])
async def test_approval_shows_the_model_plan_once_and_the_resumed_run_uses_it(
    tmp_path, saver, durability
):
    model = _numbered_plans(A, B)
    app = build_graph(checkpointer=saver, models={"coordinator": model})
    config = {"configurable": {"thread_id": f"t-approve-{durability}-{id(saver)}"}}
    ctx = Context(brain="llm", approve_plan=True, runs_dir=str(tmp_path))
    await app.ainvoke(
        {"question": QUESTION, "urls": [A, B]}, config, context=ctx, durability=durability
    )
    paused = await app.aget_state(config)
    (pending,) = [i for task in paused.tasks for i in task.interrupts]
    shown = pending.value["plan"]
    assert [(t["url"], t["goal"]) for t in shown["tasks"]] == [
        (A, "plan 1: prices"),
        (B, "plan 1: prices"),
    ]
    assert paused.next == ("coordinator",)

    await app.ainvoke(
        Command(resume=True),
        config,
        context=ctx,
        durability=durability,
        interrupt_after=["coordinator"],
    )
    resumed = await app.aget_state(config)
    assert len(model.calls) == 1  # the resumed node did not ask the model again
    plan = resumed.values["plan"]
    assert plan.review == "approved"
    assert plan.model_dump(mode="json")["tasks"] == shown["tasks"]
    assert [u.calls for u in resumed.values["usage"]] == [1]
    assert resumed.next == ("browser", "browser")  # stopped before any browser started


async def test_an_edited_model_plan_keeps_the_fields_of_the_sites_it_keeps(tmp_path):
    model = _numbered_plans(A, B)
    app = build_graph(checkpointer=InMemorySaver(), models={"coordinator": model})
    config = {"configurable": {"thread_id": "t-edit"}}
    ctx = Context(brain="llm", approve_plan=True, runs_dir=str(tmp_path))
    await app.ainvoke({"question": QUESTION, "urls": [A, B]}, config, context=ctx)
    edit = {"tasks": [{"url": B, "goal": "Only the storage limits"}]}
    await app.ainvoke(Command(resume=edit), config, context=ctx, interrupt_after=["coordinator"])
    plan = (await app.aget_state(config)).values["plan"]
    assert [(t.task_id, t.url, t.goal, t.fields) for t in plan.tasks] == [
        ("site-2", B, "Only the storage limits", ["plan name", "monthly price (currency)"])
    ]
    assert plan.review == "edited" and plan.planner == "planner-model"
    assert len(model.calls) == 1
