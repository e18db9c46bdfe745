"""Remember: keep the run's key insights (claims with values and sources) in long-term memory."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.models import Analysis, Findings
from graph.state import ResearchState
from memory.insights import Insight, remember
from nodes.progress import emit, thread_id_of
from nodes.quantities import quantities

MAX_INSIGHTS = 20


def insights_from(state: ResearchState, *, thread_id: str) -> list[Insight]:
    """Computed highlights and the best quantified facts, never raw pages."""
    question = state.get("question", "")
    analysis = state.get("analysis") or Analysis()
    found: list[Insight] = [
        Insight(claim=h, value=_first_quantity(h), thread_id=thread_id, question=question)
        for h in analysis.highlights
    ]
    findings: list[Findings] = state.get("findings") or []
    for finding in sorted(findings, key=lambda f: f.task_id):
        found += [
            Insight(
                claim=fact.text,
                value=_first_quantity(fact.text),
                source_url=fact.source_url,
                thread_id=thread_id,
                question=question,
            )
            for fact in finding.key_facts[:3]
        ]
    return found[:MAX_INSIGHTS]


def _first_quantity(text: str) -> str:
    found = quantities(text)
    return found[0] if found else ""


async def remember_node(state: ResearchState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Graph node: write insights to the store when one is attached (a no-op otherwise)."""
    ctx = runtime.context or Context()
    if runtime.store is None:
        emit(runtime, "remember", state="skipped", reason="no store attached")
        return {}
    insights = insights_from(state, thread_id=thread_id_of(runtime))
    keys = await remember(runtime.store, ctx.memory_namespace, insights)
    emit(runtime, "remember", state="done", insights=len(keys))
    return {}
