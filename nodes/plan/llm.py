"""The llm brain's planner: a model proposes the plan, code decides what runs.

The model sees the question, the user's URLs, the run's `max_subagents` and the insights recalled
from earlier runs (fenced: they were read from web pages). It answers with a `ResearchPlan`
(structured output): per site a goal and the fields to extract, the URLs it would skip and why,
and notes. Code has the last word: only the user's URLs are planned (`not_requested` otherwise),
every task passes the same rules as the offline plan (`nodes.plan.rules.refusal`), tasks over
`max_subagents` are trimmed with the reason recorded, a URL the model left out is refused as
`not_planned` with the model's reason, and goals and fields are bounded. When the model fails
(error, unparsable answer, spent budget) the run goes on with the offline plan.
"""

from __future__ import annotations

from collections import Counter

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from graph.context import Context
from graph.models import Plan, RefusedTarget, SiteTask
from nodes.llm.fence import UNTRUSTED_RULES, fence
from nodes.llm.usage import Meter
from nodes.plan.prompts import PLANNER_SYSTEM
from nodes.plan.rules import (
    FIELD_MAX_CHARS,
    GOAL_MAX_CHARS,
    MAX_FIELDS,
    bounded_fields,
    bounded_goal,
    plan_tasks,
    refusal,
)
from nodes.urls import page_identity

NOTE_MAX_CHARS = 300
MAX_NOTES = 8
RECALLED_MAX_CHARS = 4_000


class PlannedSite(BaseModel):
    """One site to research and what to find there."""

    url: str = Field(description="One of the user's URLs, copied exactly.")
    goal: str = Field(
        description="What to find on this site for the question, in one sentence "
        f"(at most {GOAL_MAX_CHARS} characters)."
    )
    fields: list[str] = Field(
        default_factory=list,
        description=f"The values to extract there, at most {MAX_FIELDS}, each a short name "
        f"(at most {FIELD_MAX_CHARS} characters) with its unit where it matters, "
        "e.g. 'monthly price per plan (with currency)'.",
    )


class SkippedSite(BaseModel):
    """One of the user's URLs left out of the plan."""

    url: str = Field(description="The URL, copied exactly as the user gave it.")
    reason: str = Field(description="Why it is not worth a subagent, in one sentence.")


class ResearchPlan(BaseModel):
    """The research plan: which of the user's sites to research, and what to find at each."""

    tasks: list[PlannedSite] = Field(
        description="One entry per site to research, most useful first."
    )
    skipped: list[SkippedSite] = Field(
        default_factory=list, description="The user's URLs left out of the plan, with reasons."
    )
    notes: list[str] = Field(
        default_factory=list,
        description="Short remarks on the plan: how goals were narrowed, what was left out.",
    )


def planning_messages(
    question: str, urls: list[str], recalled: list[str], max_subagents: int
) -> list[BaseMessage]:
    """What the planner model is shown: rules, the question, the URLs, fenced insights."""
    system = PLANNER_SYSTEM.format(
        max_subagents=max_subagents, untrusted_rules=UNTRUSTED_RULES, tool=ResearchPlan.__name__
    )
    listed = "\n".join(f"{number}. {url.strip()}" for number, url in enumerate(urls, start=1))
    insights = (
        fence(
            "\n".join(f"- {line}" for line in recalled),
            source="long-term memory: insights earlier runs read from web pages",
            limit=RECALLED_MAX_CHARS,
        )
        if recalled
        else "(none)"
    )
    human = (
        f"Question: {question.strip()}\n\n"
        f"The user's URLs (the only ones you may plan):\n{listed}\n\n"
        f"Most sites to plan (max_subagents): {max_subagents}\n\n"
        f"Insights from earlier runs:\n{insights}"
    )
    return [SystemMessage(content=system), HumanMessage(content=human)]


async def plan_with_model(
    question: str,
    urls: list[str],
    recalled: list[str],
    ctx: Context,
    model: BaseChatModel,
    meter: Meter,
    first: int,
) -> Plan:
    """The model's plan for `urls`, held to the offline plan's rules; tasks from `site-<first>`.

    `Plan.planner` is the model's label and `Plan.notes` its notes plus what code trimmed. When
    the model fails, the offline plan comes back instead, with `planner="offline"` and a note
    naming the cause (the caller reports it as an error; the run goes on).
    """
    messages = planning_messages(question, urls, recalled, ctx.max_subagents)
    try:
        # Inside the try: a model without tool calling fails here, and falls back too.
        structured = meter.bounded(model).with_structured_output(ResearchPlan, include_raw=True)
        answer = await meter.structured(structured, messages)
        if answer is None:
            raise ValueError("the model answered without calling the ResearchPlan tool")
        proposal = ResearchPlan.model_validate(answer)
    except Exception as exc:  # any failure of the model falls back; the run goes on
        cause = f"{meter.record.model}, {failure(exc)}"
        return offline_fallback(question, urls, recalled, ctx, first, cause)
    return settle(proposal, question, urls, recalled, ctx, first, planner=meter.record.model)


def offline_fallback(
    question: str, urls: list[str], recalled: list[str], ctx: Context, first: int, cause: str
) -> Plan:
    """The offline plan, with a note saying why the model did not plan."""
    plan = plan_tasks(question, urls, max_subagents=ctx.max_subagents, first=first)
    plan.recalled = list(recalled)
    plan.notes = [
        f"the model planner failed ({cause}); planned offline instead: one task per URL, "
        "the question as goal"
    ]
    return plan


def settle(
    proposal: ResearchPlan,
    question: str,
    urls: list[str],
    recalled: list[str],
    ctx: Context,
    first: int,
    *,
    planner: str,
) -> Plan:
    """The plan that runs: the model's proposal where the rules allow it, refusals otherwise."""
    plan = Plan(recalled=list(recalled), planner=planner)
    given = Counter(url.strip() for url in urls)
    # A model may drop a trailing slash or change the host's case: the user's spelling runs.
    spelled = {page_identity(url): url.strip() for url in reversed(urls)}
    trimmed: list[str] = []
    for proposed in proposal.tasks:
        url = spelled.get(page_identity(proposed.url), proposed.url.strip())
        if not given[url]:
            plan.refused.append(
                RefusedTarget(
                    url=_one_line(proposed.url.strip(), 500),
                    rule="not_requested",
                    reason="the model planned a URL the user did not give; only the user's "
                    "URLs are researched",
                )
            )
            continue
        given[url] -= 1
        goal = bounded_goal(proposed.goal, question)
        refused = refusal(url, goal, plan, max_subagents=ctx.max_subagents)
        if refused:
            plan.refused.append(refused)
            if refused.rule == "max_subagents":
                trimmed.append(url)
            continue
        task_id = f"site-{first + len(plan.tasks)}"
        fields = bounded_fields(proposed.fields)
        plan.tasks.append(SiteTask(task_id=task_id, url=url, goal=goal, fields=fields))
    # The user's URLs the model did not plan: code's own rules first, else the model's reason.
    skipped = {
        spelled.get(page_identity(s.url), s.url.strip()): _one_line(s.reason, NOTE_MAX_CHARS)
        for s in proposal.skipped
    }
    for raw in urls:
        url = raw.strip()
        if given[url] <= 0:
            continue
        given[url] -= 1
        refused = refusal(raw, question, plan, max_subagents=ctx.max_subagents)
        if refused is None or refused.rule == "max_subagents":
            why = skipped.get(url) or "no reason given"
            refused = RefusedTarget(
                url=url, rule="not_planned", reason=f"the model left it out of the plan: {why}"
            )
        plan.refused.append(refused)
    plan.notes = [_one_line(note, NOTE_MAX_CHARS) for note in proposal.notes if note.strip()]
    plan.notes = plan.notes[:MAX_NOTES]
    if trimmed:
        plan.notes.append(
            f"trimmed {len(trimmed)} task(s) over the run's limit of {ctx.max_subagents} "
            f"subagents (Context.max_subagents): {', '.join(trimmed)}"
        )
    return plan


def failure(exc: BaseException) -> str:
    """An exception as one bounded line, for a note or an error."""
    return _one_line(f"{type(exc).__name__}: {exc}", NOTE_MAX_CHARS)


def _one_line(text: str, limit: int) -> str:
    return " ".join(str(text).split())[:limit]
