"""The analyst: turns every branch's tables into charts and comparisons inside a code sandbox.

The generated code and the tables go into a fresh code-interpreter session with no network and
no view of the host; only the files it writes under `out/` come back, as artifacts.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.models import Analysis, Findings, SubagentError
from graph.state import ResearchState
from nodes.analysis_code import generate_analysis_code, runtime_source
from nodes.artifacts import run_dir, write_artifact
from nodes.llm.chat import ModelOverrides
from nodes.progress import emit, thread_id_of
from sandbox.interpreter import CodeSession, SandboxLimits, SandboxUnavailable, open_session
from sandbox.pool import default_pool

OUT_DIR = "out"


def manifest_for(question: str, findings: list[Findings]) -> tuple[dict[str, Any], dict[str, Path]]:
    """The analysis manifest and the host files to copy in, one CSV per extracted table."""
    tables, files = [], {}
    for finding in sorted(findings, key=lambda f: f.task_id):
        for index, table in enumerate(finding.tables, start=1):
            name = f"tables/{finding.task_id}-{index}.csv"
            files[name] = Path(table.artifact.path)
            tables.append(
                {
                    "site": finding.site_name or finding.site,
                    "source_url": table.source_url,
                    "path": name,
                    "caption": table.caption,
                }
            )
    return {"question": question, "fx_to_usd": None, "tables": tables}, files


async def run_analysis(
    question: str, findings: list[Findings], ctx: Context, *, out: Path
) -> Analysis:
    """Run the generated analysis in a sandbox session and collect what it wrote."""
    manifest, files = manifest_for(question, findings)
    if not manifest["tables"]:
        msg = "no subagent found a table to compare; the report lists the facts it found instead"
        return Analysis(errors=[SubagentError(where="analyst", kind="no_tables", message=msg)])
    limits = SandboxLimits(wall_time_s=ctx.sandbox_timeout_s, memory_mb=ctx.sandbox_memory_mb)
    code = generate_analysis_code(manifest_path="manifest.json", out_dir=OUT_DIR)
    await asyncio.to_thread(_keep_code, out, code)
    try:
        async with _session(ctx, limits) as session:
            return await _execute(session, manifest, files, code, out=out)
    except SandboxUnavailable as exc:
        error = SubagentError(where="analyst", kind="sandbox_unavailable", message=str(exc))
        return Analysis(errors=[error], code_path=str(out / "analysis.py"))


@asynccontextmanager
async def _session(ctx: Context, limits: SandboxLimits) -> AsyncIterator[CodeSession]:
    """A fresh session: from the process's warm pool when one is configured."""
    if ctx.sandbox_pool_size > 0:
        pool = await default_pool(ctx.sandbox_tier, limits, size=ctx.sandbox_pool_size)
        async with pool.session() as session:
            yield session
    else:
        async with open_session(tier=ctx.sandbox_tier, limits=limits) as session:
            yield session


def _keep_code(out: Path, code: str) -> None:
    # The generated code is kept beside its outputs so a person can read and rerun it.
    out.mkdir(parents=True, exist_ok=True)
    (out / "analysis.py").write_text(code)


async def _execute(
    session: CodeSession, manifest: dict[str, Any], files: dict[str, Path], code: str, *, out: Path
) -> Analysis:
    await session.write_file("analysis_runtime.py", runtime_source().encode())
    await session.write_file("manifest.json", json.dumps(manifest, indent=2).encode())
    for name, host_path in files.items():
        await session.write_file(name, await asyncio.to_thread(host_path.read_bytes))
    result = await session.execute(code)
    analysis = Analysis(sandbox_tier=result.tier, code_path=str(out / "analysis.py"))
    if result.exit_status != 0 or result.error_type:
        detail = result.error_message or result.stderr[-500:] or f"exit status {result.exit_status}"
        limit = f" (limit hit: {result.limit_hit})" if result.limit_hit else ""
        msg = f"the analysis code failed in the {result.tier} sandbox{limit}: {detail}"
        analysis.errors.append(SubagentError(where="analyst", kind="analysis_failed", message=msg))
    await _collect(session, analysis, out=out)
    return analysis


async def _collect(session: CodeSession, analysis: Analysis, *, out: Path) -> None:
    for name in await session.list_files():
        if not name.startswith(f"{OUT_DIR}/"):
            continue
        data, target_path = await session.read_file(name), out / name.removeprefix(f"{OUT_DIR}/")
        ref = await asyncio.to_thread(write_artifact, target_path, data)
        target = analysis.charts if ref.media_type == "image/png" else analysis.outputs
        target.append(ref)
        if name == f"{OUT_DIR}/summary.json":
            _read_summary(data, analysis)


def _read_summary(data: bytes, analysis: Analysis) -> None:
    summary = json.loads(data)
    analysis.highlights = [str(h) for h in summary.get("highlights", [])][:20]
    analysis.comparison_markdown = str(summary.get("comparison_markdown", ""))[:20_000]
    for warning in summary.get("warnings", []):
        analysis.errors.append(SubagentError(where="analyst", kind="warning", message=str(warning)))


def _fresh_dir(runs_dir: str, thread_id: str) -> Path:
    # A resumed or repeated run starts the analysis afresh.
    out = run_dir(runs_dir, thread_id) / "analysis"
    shutil.rmtree(out, ignore_errors=True)
    return out


async def analyst(
    state: ResearchState, runtime: Runtime[Context], *, models: ModelOverrides | None = None
) -> dict[str, Any]:
    """Graph node: analyse all findings in one sandbox session."""
    ctx = runtime.context or Context()
    out = await asyncio.to_thread(_fresh_dir, ctx.runs_dir, thread_id_of(runtime))
    emit(runtime, "analyst", state="started", tier=ctx.sandbox_tier)
    analysis = await run_analysis(
        state.get("question", ""), state.get("findings") or [], ctx, out=out
    )
    emit(runtime, "analyst", state="done", tier=analysis.sandbox_tier, charts=len(analysis.charts))
    return {"analysis": analysis}
