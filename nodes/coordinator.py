"""The coordinator: recall what earlier runs learned, then plan one task per target site."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send, interrupt

from graph.context import Context
from graph.models import Findings, Plan, RefusedTarget, SiteTask
from graph.state import BrowseTask, ResearchState
from memory.insights import recall
from nodes.llm.chat import ModelOverrides, choose_brain
from nodes.progress import emit, thread_id_of
from sandbox.egress import EgressRefused, validate_url


def plan_tasks(question: str, urls: list[str], *, max_subagents: int, first: int = 1) -> Plan:
    """One task per distinct, well-formed URL with the question as its goal; refuse the rest.

    Tasks are numbered `site-<first>`, `site-<first + 1>`, …
    """
    plan = Plan()
    question = question.strip()
    for raw in urls:
        refusal = _refusal(raw, question, plan, max_subagents=max_subagents)
        if refusal:
            plan.refused.append(refusal)
            continue
        url = raw.strip()
        task_id = f"site-{first + len(plan.tasks)}"
        plan.tasks.append(SiteTask(task_id=task_id, url=url, goal=question))
    return plan


def next_task_number(findings: list[Findings]) -> int:
    """First task number after the thread's earlier findings, so task ids stay unique.

    A thread continued with a new question keeps its earlier findings (the `findings` reducer
    adds); the report tells them apart by their goal.
    """
    numbers = [int(n) for f in findings if (n := f.task_id.rpartition("-")[2]).isdigit()]
    return max(numbers, default=0) + 1


def _refusal(raw: str, question: str, plan: Plan, *, max_subagents: int) -> RefusedTarget | None:
    if not question:
        return RefusedTarget(
            url=raw, rule="empty_question", reason="there is no question to research"
        )
    try:
        url = validate_url(raw)
    except EgressRefused as refusal:
        return RefusedTarget(url=raw, rule=refusal.rule, reason=refusal.reason)
    if any(task.url == url for task in plan.tasks):
        return RefusedTarget(url=url, rule="duplicate", reason="the same URL is already planned")
    if len(plan.tasks) >= max_subagents:
        reason = f"the run may plan at most {max_subagents} subagents (Context.max_subagents)"
        return RefusedTarget(url=url, rule="max_subagents", reason=reason)
    return None


async def coordinator(
    state: ResearchState, runtime: Runtime[Context], *, models: ModelOverrides | None = None
) -> dict[str, Any]:
    """Recall prior insights, plan the fan-out, and say which brain runs it."""
    ctx = runtime.context or Context()
    question = (state.get("question") or "").strip()
    recalled = []
    if runtime.store is not None and question:
        recalled = await recall(runtime.store, ctx.memory_namespace, question, limit=5)
    plan = plan_tasks(
        question,
        list(state.get("urls") or []),
        max_subagents=ctx.max_subagents,
        first=next_task_number(state.get("findings") or []),
    )
    plan.recalled = [f"{i.claim} (from run {i.thread_id}, {i.date})" for i in recalled]
    errors = [] if question else ["no question was given: nothing to research"]
    if question and not state.get("urls"):
        errors.append("no URLs were given: pass at least one site to research")
    if ctx.approve_plan and plan.tasks:
        # Interrupting re-runs this node on resume; recall and planning are deterministic, so
        # the person's answer applies to the same plan they were shown.
        decision = interrupt({"plan": plan.model_dump(mode="json"), "how": REVIEW_HOW})
        plan = review_plan(plan, decision, max_subagents=ctx.max_subagents)
    emit(runtime, "plan", tasks=[t.url for t in plan.tasks], refused=len(plan.refused))
    brain = choose_brain(ctx, models)
    return {"plan": plan, "brain": brain, "thread_id": thread_id_of(runtime), "errors": errors}


REVIEW_HOW = (
    "Resume with true to approve, false to reject, or {'tasks': [{'url': ..., 'goal': ...}]} "
    "to run an edited plan (drop a site, change a goal)."
)


def review_plan(plan: Plan, decision: Any, *, max_subagents: int) -> Plan:
    """The plan after a person's review: approved as is, rejected, or replaced by their edit."""
    if decision is False or (isinstance(decision, dict) and decision.get("approve") is False):
        refused = [
            RefusedTarget(url=t.url, rule="rejected", reason="a person rejected the plan")
            for t in plan.tasks
        ]
        return plan.model_copy(
            update={"tasks": [], "refused": [*plan.refused, *refused], "review": "rejected"}
        )
    if not (isinstance(decision, dict) and isinstance(decision.get("tasks"), list)):
        return plan.model_copy(update={"review": "approved"})
    edited = Plan(recalled=plan.recalled, refused=list(plan.refused), review="edited")
    planned = {task.url: task for task in plan.tasks}
    for entry in decision["tasks"]:
        raw = str(entry.get("url", ""))
        known = planned.get(raw.strip())
        goal = str(entry.get("goal") or (known or plan.tasks[0]).goal).strip()
        refusal = _refusal(raw, goal, edited, max_subagents=max_subagents)
        if refusal:
            edited.refused.append(refusal)
            continue
        url = raw.strip()
        task_id = known.task_id if known else f"site-{len(plan.tasks) + len(edited.tasks) + 1}"
        edited.tasks.append(SiteTask(task_id=task_id, url=url, goal=goal))
    return edited


def fan_out(state: ResearchState) -> list[Send] | str:
    """One `Send` per planned task; straight to the analyst when nothing was planned."""
    plan = state.get("plan") or Plan()
    if not plan.tasks:
        return "analyst"
    question, brain = state.get("question", ""), state.get("brain") or "offline"
    return [
        Send("browser", BrowseTask(task=task, question=question, brain=brain))
        for task in plan.tasks
    ]
