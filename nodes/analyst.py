"""The analyst: turns every branch's tables into charts and comparisons inside a code sandbox.

The generated code and the tables go into a fresh code-interpreter session with no network and
no view of the host; only the files it writes under `out/` come back, as artifacts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.models import Analysis, Findings, SubagentError
from graph.state import ResearchState
from nodes.analysis_code import generate_analysis_code, runtime_source
from nodes.artifacts import run_dir, write_artifact
from nodes.progress import emit, thread_id_of
from sandbox.interpreter import CodeSession, SandboxLimits, SandboxUnavailable, open_session

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
    _keep_code(out, code)
    try:
        async with open_session(tier=ctx.sandbox_tier, limits=limits) as session:
            return await _execute(session, manifest, files, code, out=out)
    except SandboxUnavailable as exc:
        error = SubagentError(where="analyst", kind="sandbox_unavailable", message=str(exc))
        return Analysis(errors=[error], code_path=str(out / "analysis.py"))


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
        await session.write_file(name, host_path.read_bytes())
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
        ref = write_artifact(out / name.removeprefix(f"{OUT_DIR}/"), await session.read_file(name))
        target = analysis.charts if ref.media_type == "image/png" else analysis.outputs
        target.append(ref)
        if name == f"{OUT_DIR}/summary.json":
            _read_summary(Path(ref.path), analysis)


def _read_summary(path: Path, analysis: Analysis) -> None:
    summary = json.loads(path.read_text())
    analysis.highlights = [str(h) for h in summary.get("highlights", [])][:20]
    analysis.comparison_markdown = str(summary.get("comparison_markdown", ""))[:20_000]
    for warning in summary.get("warnings", []):
        analysis.errors.append(SubagentError(where="analyst", kind="warning", message=str(warning)))


async def analyst(state: ResearchState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Graph node: analyse all findings in one sandbox session."""
    ctx = runtime.context or Context()
    out = run_dir(ctx.runs_dir, thread_id_of(runtime)) / "analysis"
    shutil.rmtree(out, ignore_errors=True)  # a resumed or repeated run starts the analysis afresh
    emit(runtime, "analyst", state="started", tier=ctx.sandbox_tier)
    analysis = await run_analysis(
        state.get("question", ""), state.get("findings") or [], ctx, out=out
    )
    emit(runtime, "analyst", state="done", tier=analysis.sandbox_tier, charts=len(analysis.charts))
    return {"analysis": analysis}
