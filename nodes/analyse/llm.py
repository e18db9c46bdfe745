"""The llm analyst: a model writes the analysis code, the sandbox runs it, errors go back to it.

The model sees the question, the manifest and a preview of every table (cells come from web
pages, so the preview is fenced as untrusted), and the contract: a pandas/matplotlib script
that saves PNG charts under `out/` and writes `out/summary.json`. Each attempt runs in a fresh
code-interpreter session; a failure (an exception, a limit, a missing or malformed summary)
goes back to the model as the error and a bounded tail of the output, and it repairs the
script, up to `Context.analyst_max_attempts` runs. Every attempt's code is kept
(`attempt-N.py`), the one that worked as `analysis.py`. When no attempt works, the budget is
spent or the model fails, the generated offline code runs instead, so the run still gets its
charts, and the report says why.
"""

from __future__ import annotations

import ast
import asyncio
import csv
import io
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from graph.context import Context
from graph.models import Analysis, SubagentError
from nodes.analyse.prompts import ANALYST_NO_CODE, ANALYST_REPAIR, ANALYST_SYSTEM
from nodes.analyse.workbench import CodeRun, Workbench
from nodes.llm.fence import UNTRUSTED_RULES, fence
from nodes.llm.usage import BudgetExhausted, Meter
from sandbox.interpreter import SandboxUnavailable

log = logging.getLogger(__name__)

# Called with progress fields (state="attempt", attempt=N, ok=...); the node emits them.
Progress = Callable[..., None]

PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 80
PREVIEW_TABLE_CHARS = 1_500
PREVIEW_MAX_TABLES = 24
STDERR_TAIL_CHARS = 2_000
STDOUT_TAIL_CHARS = 800

# A fenced block: its language tag, then its body up to the closing fence (or the end, when a
# reply was cut off mid-block).
_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"python", "python3", "py"}


def extract_code(reply: AIMessage) -> str | None:
    """The script in a model's reply: a tool call's `code`, a ```python block, or bare Python."""
    for call in reply.tool_calls:
        code = call.get("args", {}).get("code")
        if isinstance(code, str) and code.strip():
            return code.strip() + "\n"
    text = reply.text
    blocks = [(tag.lower(), body) for tag, body in _BLOCK.findall(text)]
    candidates = [body for tag, body in blocks if tag in _PYTHON_TAGS] or [
        body for tag, body in blocks if not tag
    ]
    candidates = [body for body in candidates if body.strip()]
    if candidates:
        # Models sometimes show a short usage example next to the script: the script is longest.
        return max(candidates, key=len).strip() + "\n"
    if text.strip() and not blocks and _is_python(text):
        return text.strip() + "\n"
    return None


def _is_python(text: str) -> bool:
    try:
        ast.parse(text)  # parses only; nothing runs on the host
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def system_prompt(ctx: Context) -> str:
    """What the analyst model is told: the sandbox's limits, the files, the script's contract."""
    return ANALYST_SYSTEM.format(
        timeout=ctx.sandbox_timeout_s, memory=ctx.sandbox_memory_mb, untrusted_rules=UNTRUSTED_RULES
    )


def summary_problem(data: bytes | None) -> str:
    """What is wrong with `out/summary.json` against the contract ('' when it fits)."""
    if data is None:
        return "the script did not write out/summary.json"
    try:
        summary = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"out/summary.json is not valid JSON ({exc})"
    if not isinstance(summary, dict):
        return "out/summary.json must hold a JSON object"
    highlights = summary.get("highlights")
    if not isinstance(highlights, list) or not all(isinstance(h, str) for h in highlights):
        return 'out/summary.json needs "highlights": a list of strings'
    if not isinstance(summary.get("comparison_markdown", ""), str):
        return 'out/summary.json "comparison_markdown" must be a string'
    if not isinstance(summary.get("warnings", []), list):
        return 'out/summary.json "warnings" must be a list of strings'
    return ""


def run_problem(run: CodeRun) -> str:
    """Why a run does not count as a working analysis ('' when it does)."""
    result = run.result
    if result.limit_hit:
        return f"it hit the sandbox's {result.limit_hit} limit ({result.error_type or 'no error'})"
    if result.error_type or result.exit_status != 0:
        return f"it raised {result.error_type or 'an error'} (exit status {result.exit_status})"
    return summary_problem(run.summary)


def repair_prompt(attempt: int, problem: str, run: CodeRun) -> str:
    """The failure as the model sees it: what broke, the error and bounded output tails."""
    result = run.result
    source = f"sandbox output of attempt {attempt}"
    parts = []
    if result.error_type or result.error_message:
        error = f"{result.error_type or 'Error'}: {result.error_message or ''}"
        parts.append(f"Error:\n{fence(error, source=source, limit=STDERR_TAIL_CHARS)}")
    if result.stderr.strip():
        tail = result.stderr[-STDERR_TAIL_CHARS:]
        parts.append(f"stderr (last part):\n{fence(tail, source=source, limit=STDERR_TAIL_CHARS)}")
    if result.stdout.strip():
        tail = result.stdout[-STDOUT_TAIL_CHARS:]
        parts.append(f"stdout (last part):\n{fence(tail, source=source, limit=STDOUT_TAIL_CHARS)}")
    output = "\n\n".join(parts) or "(the script printed nothing)"
    return ANALYST_REPAIR.format(attempt=attempt, problem=problem, output=output)


def table_preview(entry: dict[str, Any], host_path: Path) -> str:
    """One table as the model sees it: our path (trusted), then its page content, fenced."""
    try:
        with host_path.open(newline="", encoding="utf-8", errors="replace") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        return f"- {entry['path']}: could not be read on the host ({exc})"
    head, body = (rows[0], rows[1:]) if rows else ([], [])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in [head, *body[:PREVIEW_ROWS]]:
        writer.writerow([cell[:PREVIEW_CELL_CHARS] for cell in row])
    content = (
        f"site: {entry.get('site', '')}\ncaption: {entry.get('caption', '')}\n"
        f"columns: {json.dumps(head, ensure_ascii=False)}\n"
        f"first rows (CSV):\n{buffer.getvalue()}"
    )
    fenced = fence(content, source=str(entry.get("source_url", "")), limit=PREVIEW_TABLE_CHARS)
    rows_note = f"{len(body)} data row{'' if len(body) == 1 else 's'}"
    return f"- {entry['path']} ({rows_note}):\n{fenced}"


def brief(question: str, bench: Workbench) -> str:
    """The first request: the question, the manifest's tables and a preview of each."""
    tables = bench.manifest["tables"]
    previews = [
        table_preview(entry, bench.files[entry["path"]]) for entry in tables[:PREVIEW_MAX_TABLES]
    ]
    if len(tables) > PREVIEW_MAX_TABLES:
        previews.append(f"- … and {len(tables) - PREVIEW_MAX_TABLES} more tables in manifest.json")
    return (
        f"Question: {question.strip() or '(none given)'}\n\n"
        f"manifest.json lists {len(tables)} table(s):\n\n" + "\n\n".join(previews)
    )


async def run_llm_analysis(
    question: str,
    ctx: Context,
    model: BaseChatModel,
    meter: Meter,
    bench: Workbench,
    *,
    progress: Progress | None = None,
) -> Analysis:
    """Have `model` write and repair the analysis on `bench`; fall back to the offline code.

    At most `ctx.analyst_max_attempts` model replies and code runs. Never raises for a model or
    code failure: those become the analysis's errors.
    """
    label = meter.record.model
    system = system_prompt(ctx)
    brief_text = await asyncio.to_thread(brief, question, bench)
    messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(brief_text)]
    failures: list[SubagentError] = []
    runs, stopped = 0, ""
    for attempt in range(1, max(1, ctx.analyst_max_attempts) + 1):
        try:
            reply = await meter.call(meter.bounded(model), messages)
        except BudgetExhausted as exc:
            failures.append(SubagentError(where="analyst", kind="budget", message=str(exc)))
            stopped = "the token budget is spent"
            break
        except Exception as exc:  # a provider error, throttling, a bad response
            log.warning("analyst model %s failed: %s", label, exc)
            message = f"the analyst model {label} failed on attempt {attempt}: {type(exc).__name__}: {exc}"
            failures.append(SubagentError(where="analyst", kind="model_error", message=message))
            stopped = "the model failed"
            break
        code = extract_code(reply)
        if code is None:
            # The history keeps plain text only, so any provider accepts the next turn.
            messages += [AIMessage(reply.text or "(no reply)"), HumanMessage(ANALYST_NO_CODE)]
            message = f"attempt {attempt}: the model's reply held no Python code"
            failures.append(SubagentError(where="analyst", kind="analysis_failed", message=message))
            continue
        messages.append(AIMessage(f"```python\n{code}```"))
        runs += 1
        await bench.save(f"attempt-{attempt}.py", code)
        try:
            run = await bench.run(code)
        except SandboxUnavailable as exc:
            if getattr(exc, "retry_later", False):
                raise  # throttled, quota: the analyst stops the run, which can be resumed
            error = SubagentError(where="analyst", kind="sandbox_unavailable", message=str(exc))
            return Analysis(errors=[*failures, error], author=label, attempts=runs)
        problem = run_problem(run)
        if progress is not None:
            progress(state="attempt", attempt=attempt, ok=not problem, model=label)
        if not problem:
            await bench.save(bench.code_path.name, code)
            analysis = Analysis(
                sandbox_tier=run.isolation,
                code_path=str(bench.code_path),
                author=label,
                attempts=runs,
            )
            await bench.keep(run, analysis)
            return analysis
        detail = (run.result.error_message or "").strip()[:300]
        message = f"attempt {attempt}: {problem}" + (f": {detail}" if detail else "")
        failures.append(SubagentError(where="analyst", kind="analysis_failed", message=message))
        messages.append(HumanMessage(repair_prompt(attempt, problem, run)))
    analysis = await bench.run_offline()
    plural = "" if runs == 1 else "s"
    analysis.author = f"offline (fallback after {runs} failed attempt{plural}" + (
        f": {stopped})" if stopped else ")"
    )
    analysis.attempts = runs
    analysis.errors[:0] = failures
    return analysis
