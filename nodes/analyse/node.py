"""The analyst node: turns every branch's tables into charts and comparisons in a code sandbox.

Who writes the code depends on the brain: the offline brain runs generated code
(`nodes.analyse.offline`), the llm brain has a model write and repair it (`nodes.analyse.llm`)
and falls back to the generated code; both run on a `nodes.analyse.workbench.Workbench`.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.runtime import Runtime

from graph.context import Context
from graph.models import Analysis, Findings, SubagentError
from graph.state import ResearchState
from nodes.analyse.llm import Progress, run_llm_analysis
from nodes.analyse.workbench import SessionFactory, Workbench, manifest_for, no_tables
from nodes.artifacts import run_dir
from nodes.llm.chat import ModelOverrides, ModelUnavailable, metered_model
from nodes.llm.usage import Meter
from nodes.progress import emit, thread_id_of
from sandbox.agentcore.settings import AgentCoreSettings
from sandbox.interpreter import CodeSession, SandboxLimits, SandboxUnavailable, open_session
from sandbox.pool import DEFAULT_PRELOAD, default_pool
from sandbox.usage import SessionMeter


async def run_analysis(
    question: str,
    findings: list[Findings],
    ctx: Context,
    *,
    out: Path,
    model: BaseChatModel | None = None,
    meter: Meter | None = None,
    session_factory: SessionFactory | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """Analyse the findings' tables in the sandbox: generated code, or `model`'s with `meter`.

    `session_factory` opens each run's session (default: the Context's tier, limits and pool).
    """
    manifest, files = manifest_for(question, findings)
    if not manifest["tables"]:
        return no_tables()
    limits = SandboxLimits(wall_time_s=ctx.sandbox_timeout_s, memory_mb=ctx.sandbox_memory_mb)
    meters: list[SessionMeter] = []  # what each code session spends: the cost estimate
    bench = Workbench(
        manifest=manifest,
        files=files,
        out=out,
        open_session=session_factory or partial(_metered_session, ctx, limits, meters),
    )
    if model is not None and meter is not None:
        analysis = await run_llm_analysis(question, ctx, model, meter, bench, progress=progress)
    else:
        analysis = await bench.run_offline()
    analysis.sandboxes = [m.usage() for m in meters if m.attached]
    return analysis


@asynccontextmanager
async def _metered_session(
    ctx: Context, limits: SandboxLimits, meters: list[SessionMeter]
) -> AsyncIterator[CodeSession]:
    """`_session`, timed, its process tree sampled while it runs (a local tier's)."""
    meter = SessionMeter("code_interpreter")
    meters.append(meter)
    try:
        async with _session(ctx, limits) as session:
            process = getattr(session, "proc", None)  # a local tier's REPL process
            meter.attach(getattr(process, "pid", None), session.tier)
            try:
                yield session
            finally:
                await meter.stop_sampling()
    finally:
        meter.end()


@asynccontextmanager
async def _session(ctx: Context, limits: SandboxLimits) -> AsyncIterator[CodeSession]:
    """A fresh session: from the process's warm pool when one is configured."""
    if ctx.sandbox_tier == "agentcore":
        remote = AgentCoreSettings(
            region=ctx.agentcore_region,
            endpoint=ctx.agentcore_endpoint,
            session_timeout_s=ctx.agentcore_session_timeout_s,
        )
        async with open_session("agentcore", limits, agentcore=remote) as session:
            yield session
    elif ctx.sandbox_pool_size > 0:
        pool = await default_pool(ctx.sandbox_tier, limits, size=ctx.sandbox_pool_size)
        async with pool.session() as session:
            yield session
    else:
        # Preloaded like the pool's: a gVisor session then restores a snapshot that already
        # imported pandas, matplotlib and pint instead of importing them through the sentry.
        async with open_session(ctx.sandbox_tier, limits, preload=DEFAULT_PRELOAD) as session:
            yield session


def _fresh_dir(runs_dir: str, thread_id: str) -> Path:
    # A resumed or repeated run starts the analysis afresh.
    out = run_dir(runs_dir, thread_id) / "analysis"
    shutil.rmtree(out, ignore_errors=True)
    return out


async def analyst(
    state: ResearchState,
    runtime: Runtime[Context],
    *,
    models: ModelOverrides | None = None,
    sessions: SessionFactory | None = None,
) -> dict[str, Any]:
    """Graph node: analyse all findings in the sandbox (the llm brain's model writes the code).

    `sessions` opens each run's code session (default: the Context's tier, limits and pool).
    """
    ctx = runtime.context or Context()
    thread_id = thread_id_of(runtime)
    out = await asyncio.to_thread(_fresh_dir, ctx.runs_dir, thread_id)
    emit(runtime, "analyst", state="started", tier=ctx.sandbox_tier)
    model, meter, unavailable = None, None, None
    if state.get("brain") == "llm":
        try:
            model, meter = await metered_model(
                ctx, "analyst", models, thread_id, state.get("usage") or []
            )
        except ModelUnavailable as exc:
            unavailable = SubagentError(
                where="analyst",
                kind="model_unavailable",
                message=f"{exc}; the offline analysis code ran instead",
            )
    try:
        analysis = await run_analysis(
            state.get("question", ""),
            state.get("findings") or [],
            ctx,
            out=out,
            model=model,
            meter=meter,
            session_factory=sessions,
            progress=partial(emit, runtime, "analyst"),
        )
    except SandboxUnavailable as exc:  # only what clears by itself gets here (retry_later)
        emit(runtime, "analyst", state="stopped", reason=str(exc))
        msg = (
            f"{exc}. The run stopped before its analysis; every finished step is checkpointed: "
            f"once this clears, run `flotilla resume {thread_id}` to finish it"
        )
        raise SandboxUnavailable(msg) from None
    if unavailable is not None:
        analysis.errors.insert(0, unavailable)
        analysis.author = "offline (fallback: no analyst model)"
    emit(runtime, "analyst", state="done", tier=analysis.sandbox_tier, charts=len(analysis.charts))
    update: dict[str, Any] = {"analysis": analysis}
    if meter is not None:
        update["usage"] = [meter.record]
    return update
