"""The rules every plan passes, whoever made it: the offline planner, a model, or a person.

A target is planned only if there is a question, its URL is well-formed http(s), it is not
planned already, and the run has room for another subagent (`Context.max_subagents`). Every
other target is refused with the rule that refused it, so the report can say why.
"""

from __future__ import annotations

from graph.models import Findings, Plan, RefusedTarget, SiteTask
from sandbox.egress import EgressRefused, validate_url

GOAL_MAX_CHARS = 300
FIELD_MAX_CHARS = 120
MAX_FIELDS = 12


def plan_tasks(question: str, urls: list[str], *, max_subagents: int, first: int = 1) -> Plan:
    """One task per distinct, well-formed URL with the question as its goal; refuse the rest.

    Tasks are numbered `site-<first>`, `site-<first + 1>`, …
    """
    plan = Plan()
    question = question.strip()
    for raw in urls:
        refused = refusal(raw, question, plan, max_subagents=max_subagents)
        if refused:
            plan.refused.append(refused)
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


def refusal(raw: str, goal: str, plan: Plan, *, max_subagents: int) -> RefusedTarget | None:
    """Why `raw` may not join `plan` with this goal, or None when it may."""
    if not goal.strip():
        return RefusedTarget(
            url=raw, rule="empty_question", reason="there is no question to research"
        )
    try:
        url = validate_url(raw)
    except EgressRefused as refused:
        return RefusedTarget(url=raw, rule=refused.rule, reason=refused.reason)
    if any(task.url == url for task in plan.tasks):
        return RefusedTarget(url=url, rule="duplicate", reason="the same URL is already planned")
    if len(plan.tasks) >= max_subagents:
        reason = f"the run may plan at most {max_subagents} subagents (Context.max_subagents)"
        return RefusedTarget(url=url, rule="max_subagents", reason=reason)
    return None


def bounded_goal(goal: str, question: str) -> str:
    """A task's goal on one line and at most GOAL_MAX_CHARS; an empty goal is the question."""
    goal = " ".join(goal.split())[:GOAL_MAX_CHARS].strip()
    return goal or question.strip()


def bounded_fields(fields: list[str]) -> list[str]:
    """What to extract at a site: distinct, one line each, bounded in length and number."""
    kept: list[str] = []
    for field in fields:
        text = " ".join(str(field).split())[:FIELD_MAX_CHARS].strip()
        if text and text not in kept:
            kept.append(text)
    return kept[:MAX_FIELDS]
