"""What a subagent read, as Findings: ranked facts, a summary, tables as CSV artifacts.

Both brains end here: the offline brain's findings are these; the llm brain's start from them
and carry the model's checked summary and facts instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from graph.models import SUMMARY_MAX_CHARS, Fact, Findings, SiteTask, SubagentError, TableRef
from nodes.artifacts import write_csv
from nodes.browse.extract.sentences import rank_sentences, summarise
from nodes.browse.extract.site_name import site_name
from nodes.browse.pages import Collected
from nodes.quantities import quantities
from sandbox.egress import EgressRefused

Status = Literal["ok", "partial", "failed", "refused"]

MAX_FACTS = 10


def build_findings(
    task: SiteTask, collected: Collected, *, artifacts: Path, elapsed_s: float
) -> Findings:
    """Small, structured findings from what was collected; tables become CSV artifacts."""
    text = "\n\n".join(t for _, t in collected.texts if t)
    facts = _facts(collected, task.goal)
    tables = _save_tables(collected, artifacts)
    errors = list(collected.errors)
    if collected.pages and not text and not tables:
        msg = "the pages rendered but had no readable text or tables; nothing to report"
        errors.append(SubagentError(where=task.url, kind="no_content", message=msg))
    status = _status(collected, errors, useful=bool(text or tables))
    return Findings(
        task_id=task.task_id,
        site=task.url,
        site_name=site_name(collected.titles, task.url, collected.site_names),
        goal=task.goal,
        status=status,
        pages_visited=collected.pages,
        summary=summarise(text, task.goal, max_chars=SUMMARY_MAX_CHARS) if text else "",
        key_facts=facts,
        tables=tables,
        errors=errors,
        elapsed_s=round(elapsed_s, 3),
        browser_jail=collected.browser_jail,
    )


def _status(collected: Collected, errors: list[SubagentError], *, useful: bool) -> Status:
    if not useful:
        refused = errors and all(e.kind == "refused" for e in errors)
        return "refused" if refused else "failed"
    return "partial" if errors else "ok"


def _facts(collected: Collected, goal: str) -> list[Fact]:
    scored: list[Fact] = []
    seen: set[str] = set()
    for url, text in collected.texts:
        for sentence, score in rank_sentences(text, goal, k=MAX_FACTS):
            if sentence not in seen and quantities(sentence):
                seen.add(sentence)
                scored.append(Fact(text=sentence, source_url=url, score=round(score, 3)))
    scored.sort(key=lambda fact: -fact.score)
    return scored[:MAX_FACTS]


def _save_tables(collected: Collected, artifacts: Path) -> list[TableRef]:
    refs: list[TableRef] = []
    for index, (url, table) in enumerate(collected.tables, start=1):
        artifact = write_csv(artifacts / f"table-{index}.csv", table.columns, table.rows)
        refs.append(
            TableRef(
                artifact=artifact,
                source_url=url,
                caption=table.caption,
                columns=table.columns,
                n_rows=len(table.rows),
                numeric=table.numeric,
            )
        )
    return refs


def refused_findings(task: SiteTask, refusal: EgressRefused) -> Findings:
    """Findings for a task whose start URL the egress policy refused."""
    error = SubagentError(where=task.url, kind="refused", rule=refusal.rule, message=str(refusal))
    return Findings(
        task_id=task.task_id, site=task.url, goal=task.goal, status="refused", errors=[error]
    )
