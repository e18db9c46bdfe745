"""The report: `report.md` and a self-contained `report.html` beside it, from one view.

Both files come from Jinja2 templates (`nodes/report/templates/`, rendered by
`nodes/report/render.py`) that escape every page-derived value, so a page's markup shows as
text, and link only the run's own sources. The HTML file embeds the charts and draws the run's
timeline. Everything is templated except, with the llm brain, the short answer, which the report model
writes from the computed highlights and the findings (`nodes/report/llm.py`); a model failure
or a spent budget falls back to the templated answer and says so. The report names the brain,
which model did what and the tokens each node spent. Before it is written, any value of a
secret-looking environment variable is redacted: page content reaches models, and a model that
obeyed a page asking for secrets must still not get them into the report.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime
from markupsafe import escape

from graph.context import Context
from graph.models import Analysis, Findings, ModelUsage, Plan
from graph.state import ResearchState
from nodes.artifacts import run_dir
from nodes.llm.chat import ModelOverrides, ModelUnavailable, metered_model
from nodes.llm.usage import BudgetExhausted, summarise_usage
from nodes.progress import emit, thread_id_of
from nodes.report.cost import run_estimate
from nodes.report.escape import md_prose, md_text
from nodes.report.grounding import grounded_answer
from nodes.report.llm import write_answer
from nodes.report.render import render_html, render_markdown
from nodes.report.timeline import build as build_timeline
from nodes.report.view import (
    ReportView,
    UsageRow,
    allowed_links,
    charts,
    comparison,
    site_card,
)

SHORT_ANSWER_ITEMS = 5
TEMPLATED = "templated (offline brain)"
NODE_ORDER = ("coordinator", "browser", "analyst", "report")

# Environment variables whose values never appear in a report.
SECRET_ENV_NAMES = frozenset({"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"})
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|API_KEY", re.IGNORECASE)
SECRET_MIN_CHARS = 8
REDACTED = "[redacted]"


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


def subagent_rows(findings: list[Findings], secrets: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per-subagent status for the CLI's JSON and the output schema (`secrets` redacted)."""
    return [
        {
            "task_id": f.task_id,
            "site": f.site,
            "name": f.site_name,
            "status": f.status,
            "pages": len(f.pages_visited),
            "tables": len(f.tables),
            "elapsed_s": f.elapsed_s,
            "errors": [redact(e.message, secrets) for e in f.errors],
        }
        for f in sorted(findings, key=lambda f: f.task_id)
    ]


def run_cost(state: ResearchState, usage: Sequence[ModelUsage]) -> dict[str, Any]:
    """The cost estimate of this run: its sandbox sessions, memory events and model tokens.

    Findings an earlier run on the thread left (not in this plan) are not this run's cost.
    """
    plan, analysis = state.get("plan") or Plan(), state.get("analysis") or Analysis()
    planned = {t.task_id for t in plan.tasks}
    sessions = [
        f.sandbox
        for f in state.get("findings") or []
        if f.sandbox is not None and f.task_id in planned
    ]
    return run_estimate([*sessions, *analysis.sandboxes], usage, browser_tasks=len(plan.tasks))


def build_view(
    state: ResearchState,
    *,
    thread_id: str,
    report_path: Path,
    answer: list[str],
    failed: list[str],
    writer: str,
    usage: Sequence[ModelUsage],
    detail: bool = False,
    report_start: float | None = None,
) -> ReportView:
    """Everything the report shows; `detail` embeds charts and previews tables (HTML)."""
    plan, analysis = state.get("plan") or Plan(), state.get("analysis") or Analysis()
    findings = sorted(state.get("findings") or [], key=lambda f: f.task_id)
    question = (state.get("question") or "").strip()
    base = report_path.parent
    summary = summarise_usage(usage)
    rows, total = usage_rows(summary)
    offline = (state.get("brain") or "offline") != "llm" and not usage
    return ReportView(
        question=question,
        thread_id=thread_id,
        brain=state.get("brain", "offline"),
        tier=analysis.sandbox_tier or "not used",
        stamp=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        answer=answer,
        allowed=allowed_links(findings),
        comparison=comparison(analysis.comparison_markdown),
        charts=charts(analysis, base, embed=detail),
        sites=[
            site_card(f, base, question=question, usage=list(usage), detail=detail)
            for f in findings
        ],
        recalled=list(plan.recalled),
        sources=sources(findings),
        failures=failed,
        roles=[] if offline else roles(state, writer=writer),
        usage=rows,
        total=total,
        no_model_calls=offline,
        timeline=build_timeline(
            state.get("timeline") or [],
            findings,
            report_start=report_start,
            now=time.time() if report_start is not None else None,
        ),
        cost=run_cost(state, usage),
    )


def render(
    state: ResearchState,
    *,
    thread_id: str,
    report_path: Path,
    answer: list[str] | None = None,
    writer: str = TEMPLATED,
    notes: Sequence[str] = (),
    usage: Sequence[ModelUsage] | None = None,
    report_start: float | None = None,
) -> tuple[str, list[str], list[str]]:
    """The report's markdown, its short answer (markdown, page text escaped) and its failures.

    `answer` replaces the templated short answer (the llm brain's writer); `writer` says who
    wrote it; `notes` are failures of the report node itself; `usage` defaults to the state's.
    """
    view = _view(state, thread_id, report_path, answer, writer, notes, usage, report_start)
    return _markdown(view)


def _markdown(view: ReportView) -> tuple[str, list[str], list[str]]:
    """The view's markdown, its short answer (page text escaped) and its failures."""
    return render_markdown(view), [md_prose(a, view.allowed) for a in view.answer], view.failures


def _view(
    state: ResearchState,
    thread_id: str,
    report_path: Path,
    answer: list[str] | None,
    writer: str,
    notes: Sequence[str],
    usage: Sequence[ModelUsage] | None,
    report_start: float | None,
    *,
    detail: bool = False,
) -> ReportView:
    plan, analysis = state.get("plan") or Plan(), state.get("analysis") or Analysis()
    findings = sorted(state.get("findings") or [], key=lambda f: f.task_id)
    failed = failures(plan, findings, analysis, [*(state.get("errors") or []), *notes])
    records = list(state.get("usage") or []) if usage is None else list(usage)
    return build_view(
        state,
        thread_id=thread_id,
        report_path=report_path,
        answer=answer or short_answer(analysis, findings),
        failed=failed,
        writer=writer,
        usage=records,
        detail=detail,
        report_start=report_start,
    )


def roles(state: ResearchState, *, writer: str) -> list[tuple[str, str]]:
    """Which model did what: (role, who), who with model names in backquotes."""
    plan, analysis = state.get("plan") or Plan(), state.get("analysis") or Analysis()
    findings = sorted(state.get("findings") or [], key=lambda f: f.task_id)
    runs = f" — {analysis.attempts} code run(s)" if analysis.attempts else ""
    return [
        ("Planner", _who(plan.planner)),
        ("Browser subagents", _browsers(findings)),
        ("Analyst", f"{_who(analysis.author)}{runs}"),
        ("Report writer", _who(writer)),
    ]


def usage_rows(summary: Mapping[str, Any]) -> tuple[list[UsageRow], UsageRow | None]:
    """`summarise_usage`'s result as rows, nodes in graph order, and the run's total."""
    nodes: Mapping[str, Mapping[str, Any]] = summary.get("nodes") or {}
    if not nodes:
        return [], None
    order = [n for n in NODE_ORDER if n in nodes] + [n for n in nodes if n not in NODE_ORDER]
    rows = [
        UsageRow(
            node=name,
            models=list(nodes[name].get("models", [])),
            calls=nodes[name]["calls"],
            input_tokens=nodes[name]["input_tokens"],
            output_tokens=nodes[name]["output_tokens"],
        )
        for name in order
    ]
    total = summary.get("total") or {}
    return rows, UsageRow(
        node="total",
        models=[],
        calls=total.get("calls", 0),
        input_tokens=total.get("input_tokens", 0),
        output_tokens=total.get("output_tokens", 0),
    )


def _who(name: str) -> str:
    # 'offline' alone is the offline policy; 'offline (...)' and 'templated ...' explain
    # themselves; anything else is a model's label.
    if not name or name == "offline":
        return "offline policy"
    if name.startswith(("offline", "templated")):
        return name
    return f"`{name}`"


def _browsers(findings: list[Findings]) -> str:
    by_model: dict[str, list[str]] = {}
    for finding in findings:
        by_model.setdefault(finding.model or "offline", []).append(finding.task_id)
    return "; ".join(f"{_who(m)} ({', '.join(ids)})" for m, ids in by_model.items()) or "none ran"


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of secret-looking environment variables, longest first (short ones are skipped)."""
    env = os.environ if environ is None else environ
    values = {
        value
        for name, value in env.items()
        if (name.upper() in SECRET_ENV_NAMES or _SECRET_NAME.search(name))
        and len(value) >= SECRET_MIN_CHARS
    }
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with every occurrence of each secret replaced by `[redacted]`.

    A secret is also found as the markdown and the HTML reports print it (escaped).
    """
    for secret in secrets:
        for form in dict.fromkeys((secret, md_text(secret), str(escape(secret)))):
            text = text.replace(form, REDACTED)
    return text


def write_report(
    state: ResearchState,
    *,
    runs_dir: str,
    thread_id: str,
    answer: list[str] | None = None,
    writer: str = TEMPLATED,
    notes: Sequence[str] = (),
    usage: Sequence[ModelUsage] | None = None,
    report_start: float | None = None,
) -> tuple[Path, list[str], list[str]]:
    """Write `<runs_dir>/<thread_id>/report.md` and `report.html`; return md path, answer, failures.

    `report_start`: when the report node started (its bar on the timeline ends now). Secret
    values are redacted from both files and from the answer and failures returned.
    """
    path = run_dir(runs_dir, thread_id) / "report.md"
    # One view for both files: the HTML's chart bytes and table previews, which report.md
    # leaves unused, cost less than building the whole view (failures, answer) twice.
    view = _view(state, thread_id, path, answer, writer, notes, usage, report_start, detail=True)
    markdown, answer, failed = _markdown(view)
    html = render_html(view)
    secrets = secret_values()
    path.write_text(redact(markdown, secrets))
    path.with_suffix(".html").write_text(redact(html, secrets))
    return path, [redact(a, secrets) for a in answer], [redact(f, secrets) for f in failed]


async def _model_answer(
    state: ResearchState,
    ctx: Context,
    thread_id: str,
    models: ModelOverrides | None,
) -> tuple[list[str] | None, str, list[str], ModelUsage | None]:
    """The llm brain's short answer: (bullets or None, writer, failure notes, usage record)."""
    fallback = "the short answer is the templated one"
    try:
        model, meter = await metered_model(
            ctx, "report", models, thread_id, state.get("usage") or []
        )
    except ModelUnavailable as exc:
        note = f"report writer (model_unavailable): {exc}; {fallback}"
        return None, "templated (fallback: no report model)", [note], None
    label = meter.record.model
    analysis = state.get("analysis") or Analysis()
    try:
        bullets = await write_answer(
            state.get("question") or "", analysis, state.get("findings") or [], model, meter
        )
    except BudgetExhausted as exc:
        note = f"report writer (budget): {exc}; {fallback}"
        return None, "templated (fallback: token budget spent)", [note], meter.record
    except Exception as exc:  # a provider error or an answer that does not fit the schema
        note = (
            f"report writer (model_error): {label} failed: {type(exc).__name__}: {exc}; {fallback}"
        )
        return None, f"templated (fallback: {label} failed)", [note], meter.record
    # Only what the findings or the analysis hold may be stated (nodes/report/grounding.py).
    kept, writer, notes = await asyncio.to_thread(
        grounded_answer,
        bullets,
        question=state.get("question") or "",
        analysis=analysis,
        findings=state.get("findings") or [],
        run_dir=run_dir(ctx.runs_dir, thread_id),
        label=label,
    )
    return kept, writer, notes, meter.record


async def report(
    state: ResearchState, runtime: Runtime[Context], *, models: ModelOverrides | None = None
) -> dict[str, Any]:
    """Graph node: write `<runs_dir>/<thread_id>/report.md` (and .html); fill the run's output."""
    started = time.time()
    ctx = runtime.context or Context()
    thread_id = thread_id_of(runtime)
    answer: list[str] | None = None
    notes: list[str] = []
    writer, record = TEMPLATED, None
    if state.get("brain") == "llm":
        answer, writer, notes, record = await _model_answer(state, ctx, thread_id, models)
    usage = [*(state.get("usage") or []), *([record] if record else [])]
    path, written, failed = await asyncio.to_thread(
        write_report,
        state,
        runs_dir=ctx.runs_dir,
        thread_id=thread_id,
        answer=answer,
        writer=writer,
        notes=notes,
        usage=usage,
        report_start=started,
    )
    findings = state.get("findings") or []
    analysis = state.get("analysis") or Analysis()
    html = str(path.with_suffix(".html"))
    emit(runtime, "report", state="done", path=str(path), html=html, writer=writer)
    update: dict[str, Any] = {
        "report_path": str(path),
        "report_html": html,
        "answer": "\n".join(written),
        "charts": [c.path for c in analysis.charts],
        "sources": sources(findings),
        "subagents": subagent_rows(findings, secret_values()),
        "token_usage": summarise_usage(usage),
        "cost": run_cost(state, usage),
        "errors": failed,
    }
    if record is not None:
        update["usage"] = [record]
    return update
