"""The report: a markdown file with the answer, comparison, charts, sources, failures, tokens.

Everything is templated except, with the llm brain, the short answer, which the report model
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
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.models import Analysis, Findings, ModelUsage, Plan
from graph.state import ResearchState
from nodes.artifacts import run_dir
from nodes.llm.chat import ModelOverrides, ModelUnavailable, metered_model
from nodes.llm.usage import BudgetExhausted, summarise_usage
from nodes.progress import emit, thread_id_of
from nodes.report.grounding import grounded_answer
from nodes.report.llm import write_answer

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


def render(
    state: ResearchState,
    *,
    thread_id: str,
    report_path: Path,
    answer: list[str] | None = None,
    writer: str = TEMPLATED,
    notes: Sequence[str] = (),
    usage: Sequence[ModelUsage] | None = None,
) -> tuple[str, list[str], list[str]]:
    """The report's markdown, its short answer and its failures.

    `answer` replaces the templated short answer (the llm brain's writer); `writer` says who
    wrote it; `notes` are failures of the report node itself; `usage` defaults to the state's.
    """
    plan, analysis = state.get("plan") or Plan(), state.get("analysis") or Analysis()
    findings = sorted(state.get("findings") or [], key=lambda f: f.task_id)
    answer = answer or short_answer(analysis, findings)
    failed = failures(plan, findings, analysis, [*(state.get("errors") or []), *notes])
    records = list(state.get("usage") or []) if usage is None else list(usage)
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
        _section("Models and tokens", models_and_tokens(state, writer=writer, usage=records)),
    ]
    return "\n\n".join(parts) + "\n", answer, failed


def models_and_tokens(state: ResearchState, *, writer: str, usage: Sequence[ModelUsage]) -> str:
    """Which model did what, and the calls and tokens per node and for the run."""
    if (state.get("brain") or "offline") != "llm" and not usage:
        return "_Offline brain, no model calls._"
    plan, analysis = state.get("plan") or Plan(), state.get("analysis") or Analysis()
    findings = sorted(state.get("findings") or [], key=lambda f: f.task_id)
    runs = f" — {analysis.attempts} code run(s)" if analysis.attempts else ""
    roles = [
        f"Planner: {_who(plan.planner)}",
        f"Browser subagents: {_browsers(findings)}",
        f"Analyst: {_who(analysis.author)}{runs}",
        f"Report writer: {_who(writer)}",
    ]
    return f"{_bullets(roles)}\n\n{usage_table(summarise_usage(usage))}"


def usage_table(summary: Mapping[str, Any]) -> str:
    """`summarise_usage`'s result as a markdown table, nodes in graph order, then the total."""
    nodes: Mapping[str, Mapping[str, Any]] = summary.get("nodes") or {}
    if not nodes:
        return "_No model calls were made._"
    order = [n for n in NODE_ORDER if n in nodes] + [n for n in nodes if n not in NODE_ORDER]
    lines = [
        "| Node | Models | Calls | Input tokens | Output tokens |",
        "|---|---|--:|--:|--:|",
    ]
    for name in order:
        row = nodes[name]
        models = ", ".join(f"`{m}`" for m in row.get("models", []))
        lines.append(
            f"| {name} | {models} | {row['calls']} | {row['input_tokens']:,} | "
            f"{row['output_tokens']:,} |"
        )
    total = summary.get("total") or {}
    lines.append(
        f"| **Run total** | | {total.get('calls', 0)} | {total.get('input_tokens', 0):,} | "
        f"{total.get('output_tokens', 0):,} |"
    )
    return "\n".join(lines)


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
    shots = _bullets(
        [f"[{Path(s.path).name}]({_rel(s.path, report_path)})" for s in finding.screenshots]
    )
    body += [f"Screenshots:\n\n{shots}"] if shots else []
    return "\n\n".join(body)


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
    """`text` with every occurrence of each secret replaced by `[redacted]`."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
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
) -> tuple[Path, list[str], list[str]]:
    """Render and write `<runs_dir>/<thread_id>/report.md`; return its path, answer, failures.

    Secret values are redacted from the file and from the answer and failures returned.
    """
    path = run_dir(runs_dir, thread_id) / "report.md"
    markdown, answer, failed = render(
        state,
        thread_id=thread_id,
        report_path=path,
        answer=answer,
        writer=writer,
        notes=notes,
        usage=usage,
    )
    secrets = secret_values()
    path.write_text(redact(markdown, secrets))
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
    """Graph node: write `<runs_dir>/<thread_id>/report.md` and fill the run's output."""
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
    )
    findings = state.get("findings") or []
    analysis = state.get("analysis") or Analysis()
    emit(runtime, "report", state="done", path=str(path), writer=writer)
    update: dict[str, Any] = {
        "report_path": str(path),
        "answer": "\n".join(written),
        "charts": [c.path for c in analysis.charts],
        "sources": sources(findings),
        "subagents": subagent_rows(findings, secret_values()),
        "token_usage": summarise_usage(usage),
        "errors": failed,
    }
    if record is not None:
        update["usage"] = [record]
    return update
