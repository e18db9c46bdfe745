"""The coordinator: recall what earlier runs learned, then plan one task per target site.

The offline brain plans one task per URL with the question as goal (`nodes.plan.rules`); the llm
brain asks the coordinator model (`nodes.plan.llm`), whose plan code holds to the same rules.
With `Context.approve_plan` a person reviews the plan before any browser starts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.func import task
from langgraph.runtime import Runtime
from langgraph.types import Send, interrupt

from graph.context import Context
from graph.models import ModelUsage, Plan, RefusedTarget, SiteTask
from graph.state import BrowseTask, ResearchState
from memory.insights import recall
from nodes.llm.chat import ModelOverrides, ModelUnavailable, choose_brain, metered_model
from nodes.plan.llm import failure, offline_fallback, plan_with_model
from nodes.plan.rules import (
    bounded_fields,
    bounded_goal,
    next_task_number,
    plan_tasks,
    refusal,
)
from nodes.progress import emit, thread_id_of
from sandbox.optins import refusals

__all__ = [
    "coordinator",
    "fan_out",
    "next_task_number",
    "plan_tasks",
    "review_plan",
    "review_problem",
]


async def coordinator(
    state: ResearchState, runtime: Runtime[Context], *, models: ModelOverrides | None = None
) -> dict[str, Any]:
    """Recall prior insights, plan the fan-out, and say which brain runs it."""
    ctx = runtime.context or Context()
    question, urls, bad_input = run_input(state)
    if bad_input:  # a client's input of the wrong shape: nothing to plan, each field named
        return operator_refusal(runtime, [], bad_input) | {"question": question, "urls": urls}
    refused = refusals(sandbox_tier=ctx.sandbox_tier, allow_hosts=ctx.allow_hosts)
    if refused:  # before anything starts: no recall, no model, no browser
        return operator_refusal(runtime, urls, [str(r) for r in refused])
    first = next_task_number(state.get("findings") or [])
    recalled: list[str] = []
    if runtime.store is not None and question:
        insights = await recall(runtime.store, ctx.memory_namespace, question, limit=5)
        recalled = [f"{i.claim} (from run {i.thread_id}, {i.date})" for i in insights]
    brain = await asyncio.to_thread(choose_brain, ctx, models)  # may stat ~/.aws/credentials
    plan = plan_tasks(question, urls, max_subagents=ctx.max_subagents, first=first)
    plan.recalled = recalled
    errors = [] if question else ["no question was given: nothing to research"]
    if question and not urls:
        errors.append("no URLs were given: pass at least one site to research")
    usage: list[ModelUsage] = []
    if brain == "llm" and plan.tasks:
        # A task's result is checkpointed: when the approval interrupt re-runs this node on
        # resume, the model is not asked again.
        plan, usage = await model_plan(
            question, urls, recalled, first, ctx, models, thread_id_of(runtime), state.get("usage")
        )
        if plan.planner == "offline":  # the model failed; its note says why
            errors.extend(f"coordinator: {note}" for note in plan.notes)
    if ctx.approve_plan and plan.tasks:
        # Interrupting re-runs this node on resume; the offline plan is deterministic and the
        # model's comes back from its checkpointed task, so the person's answer applies to the
        # same plan they were shown.
        request = {"plan": plan.model_dump(mode="json"), "how": REVIEW_HOW}
        decision = interrupt(request)
        while problem := review_problem(decision):  # asked again, saying what was wrong
            decision = interrupt(request | {"problem": problem})
        plan = review_plan(plan, decision, max_subagents=ctx.max_subagents)
    emit(
        runtime,
        "plan",
        tasks=[t.url for t in plan.tasks],
        refused=len(plan.refused),
        planner=plan.planner,
    )
    update: dict[str, Any] = {
        "plan": plan,
        "brain": brain,
        "thread_id": thread_id_of(runtime),
        "errors": errors,
    }
    if usage:
        update["usage"] = usage
    return update


def run_input(state: ResearchState) -> tuple[str, list[str], list[str]]:
    """The run's question and URLs, and what is wrong with their shape (a client sent them)."""
    raw_question, raw_urls = state.get("question"), state.get("urls")
    problems: list[str] = []
    if raw_question is not None and not isinstance(raw_question, str):
        problems.append(f"question: expected text, got {type(raw_question).__name__}")
    if raw_urls is not None and not isinstance(raw_urls, list):
        problems.append(f"urls: expected a list of URLs, got {type(raw_urls).__name__}")
    urls = raw_urls if isinstance(raw_urls, list) else []
    problems += [
        f"urls[{index}]: expected a URL as text, got {type(url).__name__}"
        for index, url in enumerate(urls)
        if not isinstance(url, str)
    ]
    question = raw_question.strip() if isinstance(raw_question, str) else ""
    return question, [url for url in urls if isinstance(url, str)], problems


def operator_refusal(
    runtime: Runtime[Context], urls: list[str], reasons: list[str]
) -> dict[str, Any]:
    """The whole run refused: its settings weaken isolation without the operator's opt-in."""
    reason = "; ".join(reasons)
    plan = Plan(refused=[RefusedTarget(url=u, rule="operator_opt_in", reason=reason) for u in urls])
    emit(runtime, "plan", tasks=[], refused=len(plan.refused), planner=plan.planner)
    return {"plan": plan, "brain": "offline", "thread_id": thread_id_of(runtime), "errors": reasons}


@task
async def model_plan(
    question: str,
    urls: list[str],
    recalled: list[str],
    first: int,
    ctx: Context,
    models: ModelOverrides | None,
    thread_id: str,
    spent: list[ModelUsage] | None,
) -> tuple[Plan, list[ModelUsage]]:
    """The coordinator model's plan and what it spent, run once per planning step.

    Only the result is checkpointed (the arguments are not), so the model and overrides may be
    passed as they are.
    """
    try:
        model, meter = await metered_model(ctx, "coordinator", models, thread_id, spent or [])
    except ModelUnavailable as exc:
        return offline_fallback(question, urls, recalled, ctx, first, failure(exc)), []
    plan = await plan_with_model(question, urls, recalled, ctx, model, meter, first)
    return plan, [meter.record]


REVIEW_HOW = (
    "Resume with true to approve, false to reject, or {'tasks': [{'url': ..., 'goal': ...}]} "
    "to run an edited plan (drop a site, change a goal; 'fields' optional)."
)


_DECISION_KEYS = ("approve", "tasks")
_TASK_KEYS = ("url", "goal", "fields", "task_id")


def review_problem(decision: Any) -> str:
    """What is wrong with a person's answer to a plan review, naming the field; '' if nothing."""
    if isinstance(decision, bool):
        return ""
    if not isinstance(decision, dict):
        return f"expected true, false or {{'tasks': [...]}}, got {_shown(decision)}"
    unknown = [str(key) for key in decision if key not in _DECISION_KEYS]
    if unknown:
        return f"unknown key {unknown[0][:60]!r}: the answer takes {', '.join(_DECISION_KEYS)}"
    if "approve" in decision and not isinstance(decision["approve"], bool):
        return f"approve: expected true or false, got {_shown(decision['approve'])}"
    tasks = decision.get("tasks", [])
    if not isinstance(tasks, list):
        return f"tasks: expected a list of {{'url': ..., 'goal': ...}}, got {_shown(tasks)}"
    for index, entry in enumerate(tasks):
        where = f"tasks[{index}]"
        if not isinstance(entry, dict):
            return f"{where}: expected {{'url': ..., 'goal': ...}}, got {_shown(entry)}"
        unknown = [str(key) for key in entry if key not in _TASK_KEYS]
        if unknown:
            return f"{where}: unknown key {unknown[0][:60]!r}; a task takes {', '.join(_TASK_KEYS)}"
        if not isinstance(entry.get("url"), str):
            return f"{where}.url: expected a URL as text, got {_shown(entry.get('url'))}"
        for key in ("goal", "task_id"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                return f"{where}.{key}: expected text, got {_shown(entry[key])}"
        given = entry.get("fields")
        if given is not None and not (
            isinstance(given, list) and all(isinstance(f, str) for f in given)
        ):
            return f"{where}.fields: expected a list of text, got {_shown(given)}"
    return ""


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {repr(value)[:80]}"


def review_plan(plan: Plan, decision: Any, *, max_subagents: int) -> Plan:
    """The plan after a person's review: approved as is, rejected, or replaced by their edit."""
    if decision is False or (isinstance(decision, dict) and decision.get("approve") is False):
        rejected = [
            RefusedTarget(url=t.url, rule="rejected", reason="a person rejected the plan")
            for t in plan.tasks
        ]
        return plan.model_copy(
            update={"tasks": [], "refused": [*plan.refused, *rejected], "review": "rejected"}
        )
    if not (isinstance(decision, dict) and isinstance(decision.get("tasks"), list)):
        return plan.model_copy(update={"review": "approved"})
    edited = Plan(
        recalled=plan.recalled,
        refused=list(plan.refused),
        review="edited",
        planner=plan.planner,
        notes=list(plan.notes),
    )
    planned = {task.url: task for task in plan.tasks}
    for entry in decision["tasks"]:
        raw = str(entry.get("url", ""))
        known = planned.get(raw.strip())
        goal = bounded_goal(str(entry.get("goal") or ""), (known or plan.tasks[0]).goal)
        refused = refusal(raw, goal, edited, max_subagents=max_subagents)
        if refused:
            edited.refused.append(refused)
            continue
        url = raw.strip()
        task_id = known.task_id if known else f"site-{len(plan.tasks) + len(edited.tasks) + 1}"
        given = entry.get("fields")
        fields = bounded_fields(given) if isinstance(given, list) else known.fields if known else []
        edited.tasks.append(SiteTask(task_id=task_id, url=url, goal=goal, fields=fields))
    return edited


def fan_out(state: ResearchState) -> list[Send] | str:
    """One `Send` per planned task; straight to the analyst when nothing was planned."""
    plan = state.get("plan") or Plan()
    if not plan.tasks:
        return "analyst"
    brain, usage = state.get("brain") or "offline", state.get("usage") or []
    return [Send("browser", BrowseTask(task=task, brain=brain, usage=usage)) for task in plan.tasks]
