"""The report: a templated markdown file with the answer, comparison, charts, sources, failures."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.models import Analysis, Findings, Plan
from graph.state import ResearchState
from nodes.artifacts import run_dir
from nodes.llm.chat import ModelOverrides
from nodes.progress import emit, thread_id_of

SHORT_ANSWER_ITEMS = 5


def short_answer(analysis: Analysis, findings: list[Findings]) -> list[str]:
    """Computed comparisons first; the most relevant facts when there is nothing to compute."""
    if analysis.highlights:
        return analysis.highlights[:SHORT_ANSWER_ITEMS]
    facts = sorted((f for fi in findings for f in fi.key_facts), key=lambda f: -f.score)
    return [f"{fact.text} ([source]({fact.source_url}))" for fact in facts[:SHORT_ANSWER_ITEMS]]


def sources(findings: list[Findings]) -> list[str]:
    """Every page a subagent read, in plan order, once."""
    seen: dict[str, None] = {}
    for finding in sorted(findings, key=lambda f: f.task_id):
        for url in finding.pages_visited:
            seen.setdefault(url, None)
    return list(seen)


def failures(
    plan: Plan, findings: list[Findings], analysis: Analysis, extra: list[str]
) -> list[str]:
    """Everything that went wrong, each said once, in words a person can act on."""
    lines = list(extra)
    lines += [f"{r.url}: refused by rule `{r.rule}` — {r.reason}" for r in plan.refused]
    for finding in sorted(findings, key=lambda f: f.task_id):
        lines += [f"{finding.site} ({e.kind}) at {e.where}: {e.message}" for e in finding.errors]
    lines += [f"analyst ({e.kind}): {e.message}" for e in analysis.errors]
    return lines


def subagent_rows(findings: list[Findings]) -> list[dict[str, Any]]:
    """Per-subagent status for the CLI's JSON and the output schema."""
    return [
        {
            "task_id": f.task_id,
            "site": f.site,
            "name": f.site_name,
            "status": f.status,
            "pages": len(f.pages_visited),
            "tables": len(f.tables),
            "elapsed_s": f.elapsed_s,
            "errors": [e.message for e in f.errors],
        }
        for f in sorted(findings, key=lambda f: f.task_id)
    ]


def render(
    state: ResearchState, *, thread_id: str, report_path: Path
) -> tuple[str, list[str], list[str]]:
    """The report's markdown, its short answer and its failures."""
    plan, analysis = state.get("plan") or Plan(), state.get("analysis") or Analysis()
    findings = sorted(state.get("findings") or [], key=lambda f: f.task_id)
    answer = short_answer(analysis, findings)
    failed = failures(plan, findings, analysis, list(state.get("errors") or []))
    question = (state.get("question") or "").strip()
    parts = [
        _header(state, thread_id=thread_id, analysis=analysis),
        _section("Short answer", _bullets(answer) or "_Nothing could be established._"),
        _section("Comparison", analysis.comparison_markdown or "_No comparable table was found._"),
        _section("Charts", _charts(analysis, report_path) or "_No chart: no comparable numbers._"),
        _section(
            "Findings by site",
            "\n\n".join(_site(f, report_path, question=question) for f in findings) or "_None._",
        ),
        _section("Prior insights used", _bullets(plan.recalled) or "_None._"),
        _section("Sources", _numbered(sources(findings)) or "_None._"),
        _section("What failed", _bullets(failed) or "_Nothing failed._"),
    ]
    return "\n\n".join(parts) + "\n", answer, failed


def _header(state: ResearchState, *, thread_id: str, analysis: Analysis) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    tier = analysis.sandbox_tier or "not used"
    return (
        f"# Research report\n\n**Question:** {state.get('question') or '(none)'}\n\n"
        f"Thread `{thread_id}` · brain `{state.get('brain', 'offline')}` · "
        f"analysis sandbox `{tier}` · {stamp}"
    )


def _section(title: str, body: str) -> str:
    return f"## {title}\n\n{body}"


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def _numbered(items: list[str]) -> str:
    return "\n".join(f"{n}. <{item}>" for n, item in enumerate(items, start=1))


def _rel(path: str, report_path: Path) -> str:
    return os.path.relpath(path, report_path.parent)


def _charts(analysis: Analysis, report_path: Path) -> str:
    return "\n\n".join(
        f"![{Path(c.path).stem.replace('_', ' ')}]({_rel(c.path, report_path)})"
        for c in analysis.charts
    )


def _site(finding: Findings, report_path: Path, *, question: str) -> str:
    head = (
        f"### {finding.site_name or finding.site}\n\n<{finding.site}> · status **{finding.status}** · {len(finding.pages_visited)} pages · "
        f"{finding.elapsed_s:.1f} s · browser jail `{finding.browser_jail or 'unknown'}`"
    )
    facts = _bullets([f"{f.text} ([source]({f.source_url}))" for f in finding.key_facts[:6]])
    tables = _bullets(
        [
            f"[{t.caption or 'table'}]({_rel(t.artifact.path, report_path)}) — {t.n_rows} rows, "
            f"columns: {', '.join(t.columns)}"
            for t in finding.tables
        ]
    )
    body = [head]
    if finding.goal.strip() != question:
        # A thread continued with a new question keeps the findings of its earlier questions.
        body.append(f"_Found earlier on this thread, for: {finding.goal.strip()}_")
    body.append(finding.summary or "_No readable text._")
    body += [f"Key facts:\n\n{facts}"] if facts else []
    body += [f"Tables:\n\n{tables}"] if tables else []
    return "\n\n".join(body)


def write_report(
    state: ResearchState, *, runs_dir: str, thread_id: str
) -> tuple[Path, list[str], list[str]]:
    """Render and write `<runs_dir>/<thread_id>/report.md`; return its path, answer, failures."""
    path = run_dir(runs_dir, thread_id) / "report.md"
    markdown, answer, failed = render(state, thread_id=thread_id, report_path=path)
    path.write_text(markdown)
    return path, answer, failed


async def report(
    state: ResearchState, runtime: Runtime[Context], *, models: ModelOverrides | None = None
) -> dict[str, Any]:
    """Graph node: write `<runs_dir>/<thread_id>/report.md` and fill the run's output."""
    ctx = runtime.context or Context()
    thread_id = thread_id_of(runtime)
    path, answer, failed = await asyncio.to_thread(
        write_report, state, runs_dir=ctx.runs_dir, thread_id=thread_id
    )
    findings = state.get("findings") or []
    analysis = state.get("analysis") or Analysis()
    emit(runtime, "report", state="done", path=str(path))
    return {
        "report_path": str(path),
        "answer": "\n".join(answer),
        "charts": [c.path for c in analysis.charts],
        "sources": sources(findings),
        "subagents": subagent_rows(findings),
        "errors": failed,
    }
