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
from nodes.report.view import comparison

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
    return "\n\n".join(text for _, text in material_parts(question, analysis, findings))


def material_parts(
    question: str, analysis: Analysis, findings: list[Findings]
) -> list[tuple[str, str]]:
    """The writer's material as labelled parts, in the order it is shown.

    Labels: ``question``, ``highlights``, ``comparison``, one ``site:<url>`` per finding,
    ``more`` or ``nothing``. Each piece of information is shown once: the comparison table
    one row per item (not one per value), a summary without the sentences already listed as
    facts, facts grouped under the page they come from, a site's goal only when it is not the
    question itself.
    """
    parts = [("question", f"Question: {question.strip() or '(none given)'}")]
    if analysis.highlights:
        text = "\n".join(f"- {h}" for h in analysis.highlights)
        source = "highlights computed by the analysis from web tables"
        fenced = fence(text, source=source, limit=HIGHLIGHTS_CHARS)
        parts.append(("highlights", f"Computed highlights:\n{fenced}"))
    if analysis.comparison_markdown:
        source = "comparison table computed from web tables"
        table = compact_table(analysis.comparison_markdown)
        fenced = fence(table, source=source, limit=COMPARISON_CHARS)
        parts.append(("comparison", f"Comparison table:\n{fenced}"))
    ordered = sorted(findings, key=lambda f: f.task_id)
    for finding in ordered[:MAX_FINDINGS]:
        parts.append((f"site:{finding.site}", _digest(finding, question)))
    if len(ordered) > MAX_FINDINGS:
        parts.append(
            ("more", f"({len(ordered) - MAX_FINDINGS} more sites are in the full report.)")
        )
    if len(parts) == 1:
        parts.append(("nothing", "No highlights and no findings: nothing was found."))
    return parts


def _digest(finding: Findings, question: str) -> str:
    """One site's findings, fenced: its name, what its summary adds, its facts by page."""
    facts = sorted(finding.key_facts, key=lambda f: -f.score)[:FACTS_PER_FINDING]
    summary = finding.summary
    for fact in facts:  # a sentence listed as a fact below is not repeated in the summary
        summary = summary.replace(fact.text.strip().rstrip("."), "")
    kept = [part.strip(" .") for part in summary.split(". ")]
    summary = ". ".join(part for part in kept if part.strip(" .;"))
    lines = [f"site name: {finding.site_name or finding.site}"]
    if summary.strip(" ."):
        lines.append(f"summary: {summary[:SUMMARY_CHARS]}")
    pages: dict[str, list[str]] = {}
    for fact in facts:
        pages.setdefault(fact.source_url, []).append(fact.text)
    for page, texts in pages.items():
        lines += [f"facts from {page}:", *(f"- {text}" for text in texts)]
    goal = "" if finding.goal.strip() == question.strip() else f", goal: {finding.goal}"
    header = f"Findings for {finding.site} (status {finding.status}{goal}):"
    return f"{header}\n{fence(chr(10).join(lines), source=finding.site, limit=FINDING_CHARS)}"


def compact_table(markdown: str) -> str:
    """The analysis' long table (one row per site, item and metric) as one row per item.

    A table in the analysis' long shape (``site | item | metric | value | raw``) becomes one
    row per site and item with a column per metric, each cell the value and, when it reads
    differently, the page's own wording in brackets; a derived value's wording is left out
    when it only restates the row's other cells (``£29 per year ÷ 200 GiB``). Any other
    markdown comes back unchanged.
    """
    table = comparison(markdown)
    if [h.lower() for h in table.header] != ["site", "item", "metric", "value", "raw"]:
        return markdown
    rows: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
    metrics: list[str] = []
    for cells in table.rows:
        if len(cells) != 5:
            return markdown
        site, item, metric, value, raw = cells
        rows.setdefault((site, item), {})[metric] = (value, raw)
        if metric not in metrics:
            metrics.append(metric)
    lines = [
        "| " + " | ".join(["site", "item", *metrics]) + " |",
        "|" + "---|" * (2 + len(metrics)),
    ]
    for (site, item), cells_by_metric in rows.items():
        own = {raw for _, raw in cells_by_metric.values()}
        out = []
        for metric in metrics:
            value, raw = cells_by_metric.get(metric, ("", ""))
            derived = " ÷ " in raw and set(raw.split(" ÷ ")) <= own
            same = not raw or raw == value or derived
            out.append(value if same else f"{value} ({raw})")
        lines.append("| " + " | ".join([site, item, *out]) + " |")
    return "\n".join([*lines, *table.notes])


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
