"""The llm report writer: a model turns computed highlights and findings into the short answer.

Only the short answer is the model's; the rest of the report stays templated, so every
finding, source and failure is still listed whatever the model writes. What the model reads
came from web pages (summaries, facts, and highlights computed from scraped tables), so it is
fenced as untrusted and bounded. Its answer comes back as structured output, a few bullets,
each flattened to one bounded line so it cannot add headings or sections to the report.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from graph.models import Analysis, Findings
from nodes.llm.fence import UNTRUSTED_RULES, fence
from nodes.llm.usage import Meter
from nodes.report.prompts import WRITER_SYSTEM

MAX_BULLETS = 5
BULLET_MAX_CHARS = 400
MAX_FINDINGS = 12
FACTS_PER_FINDING = 6
SUMMARY_CHARS = 800
FINDING_CHARS = 2_500
HIGHLIGHTS_CHARS = 3_000
COMPARISON_CHARS = 3_000


class ShortAnswer(BaseModel):
    """The report's short answer."""

    bullets: list[str] = Field(
        description=f"2 to {MAX_BULLETS} short bullets answering the question, each one line "
        "of markdown without a leading dash."
    )


def system_prompt() -> str:
    """What the report model is told: how to answer, from what, and the fence rule."""
    return WRITER_SYSTEM.format(max_bullets=MAX_BULLETS, untrusted_rules=UNTRUSTED_RULES)


def material(question: str, analysis: Analysis, findings: list[Findings]) -> str:
    """What the writer reads: the question, then fenced, bounded highlights and findings."""
    parts = [f"Question: {question.strip() or '(none given)'}"]
    if analysis.highlights:
        text = "\n".join(f"- {h}" for h in analysis.highlights)
        source = "highlights computed by the analysis from web tables"
        parts.append(f"Computed highlights:\n{fence(text, source=source, limit=HIGHLIGHTS_CHARS)}")
    if analysis.comparison_markdown:
        source = "comparison table computed from web tables"
        fenced = fence(analysis.comparison_markdown, source=source, limit=COMPARISON_CHARS)
        parts.append(f"Comparison table:\n{fenced}")
    ordered = sorted(findings, key=lambda f: f.task_id)
    for finding in ordered[:MAX_FINDINGS]:
        facts = sorted(finding.key_facts, key=lambda f: -f.score)[:FACTS_PER_FINDING]
        text = "\n".join(
            [
                f"site name: {finding.site_name or finding.site}",
                f"summary: {finding.summary[:SUMMARY_CHARS]}",
                *(f"- fact: {fact.text} (page: {fact.source_url})" for fact in facts),
            ]
        )
        header = f"Findings for {finding.site} (status {finding.status}, goal: {finding.goal}):"
        parts.append(f"{header}\n{fence(text, source=finding.site, limit=FINDING_CHARS)}")
    if len(ordered) > MAX_FINDINGS:
        parts.append(f"({len(ordered) - MAX_FINDINGS} more sites are in the full report.)")
    if len(parts) == 1:
        parts.append("No highlights and no findings: nothing was found.")
    return "\n\n".join(parts)


def tidy(bullet: str) -> str:
    """One bullet as one bounded line: no newlines, no leading list marker."""
    line = " ".join(bullet.split()).lstrip("-*• ").strip()
    if len(line) > BULLET_MAX_CHARS:
        line = line[: BULLET_MAX_CHARS - 1].rstrip() + "…"
    return line


async def write_answer(
    question: str,
    analysis: Analysis,
    findings: list[Findings],
    model: BaseChatModel,
    meter: Meter,
) -> list[str]:
    """The model's short answer as bullets.

    Raises BudgetExhausted when the run's budget is spent, ValueError when the answer does not
    fit the schema or is empty, and whatever the model's client raises.
    """
    messages = [
        SystemMessage(system_prompt()),
        HumanMessage(material(question, analysis, findings)),
    ]
    structured = meter.bounded(model).with_structured_output(ShortAnswer, include_raw=True)
    parsed = await meter.structured(structured, messages)
    if not isinstance(parsed, ShortAnswer):
        raise ValueError("the report model returned no structured answer")
    bullets = [line for line in (tidy(b) for b in parsed.bullets) if line]
    if not bullets:
        raise ValueError("the report model's answer was empty")
    return bullets[:MAX_BULLETS]
