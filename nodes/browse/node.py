"""The browser subagent node: one branch of the fan-out, one private browser sandbox.

The node holds each branch to the run's and the process's parallelism caps and picks the
brain: the offline brain (`nodes.browse.offline`) or the llm brain's tool loop
(`nodes.browse.llm`), both run by `nodes.browse.subagent.run_subagent`.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.models import Findings, ModelUsage, SiteTask, SubagentError
from graph.state import BrowseTask
from nodes.browse.pages import Progress
from nodes.browse.subagent import Subagent, run_subagent
from nodes.llm.chat import ModelOverrides, ModelUnavailable, metered_model
from nodes.progress import emit, thread_id_of

# Branches of one run share a limiter so at most `max_parallel` browsers run at once.
_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]]
_LIMITERS = weakref.WeakKeyDictionary()


# One process (the CLI, or a LangGraph server's worker) runs at most this many browsers at once,
# across all threads; each run is also held to its own Context.max_parallel.
SERVER_CAP_ENV = "FLOTILLA_MAX_BROWSERS"
SERVER_KEY = "\0server"


def _limiter(key: str, size: int) -> asyncio.Semaphore:
    per_loop = _LIMITERS.setdefault(asyncio.get_running_loop(), {})
    if key not in per_loop:
        per_loop[key] = asyncio.Semaphore(max(1, size))
    return per_loop[key]


def server_cap() -> int:
    """Browsers this process runs at once across every thread (env FLOTILLA_MAX_BROWSERS)."""
    raw = os.environ.get(SERVER_CAP_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_SERVER_CAP


DEFAULT_SERVER_CAP = 4


async def browser(
    state: BrowseTask,
    runtime: Runtime[Context],
    *,
    models: ModelOverrides | None = None,
    subagent: Subagent | None = None,
) -> dict[str, Any]:
    """Graph node: run one subagent under the run's parallelism cap and report its findings.

    `subagent` researches the site with the offline brain (default: `run_subagent`).
    """
    ctx = runtime.context or Context()
    task, thread_id, started = state["task"], thread_id_of(runtime), time.monotonic()

    def progress(step: str, fields: dict[str, object]) -> None:
        elapsed = round(time.monotonic() - started, 2)
        emit(
            runtime,
            "subagent",
            task_id=task.task_id,
            site=task.url,
            state=step,
            elapsed=elapsed,
            **fields,
        )

    run_slot, server_slot = (
        _limiter(thread_id, ctx.max_parallel),
        _limiter(SERVER_KEY, server_cap()),
    )
    usage: list[ModelUsage] | None = None
    research: Callable[[], Awaitable[Findings]]
    if state.get("brain") == "llm":
        try:
            research, record = await llm_subagent(
                task, ctx, models, thread_id, progress, state.get("usage") or []
            )
        except ModelUnavailable as exc:
            findings = _model_unavailable(task, exc)
            progress(findings.status, {"pages": 0, "errors": 1})
            return {"findings": [findings]}
        usage = [record]
    else:
        research = partial(
            subagent or run_subagent,
            task,
            ctx,
            artifacts_root=ctx.runs_dir,
            thread_id=thread_id,
            progress=progress,
        )
    async with run_slot, server_slot:
        progress("started", {"pages": 0})
        findings = await research()
    progress(
        findings.status, {"pages": len(findings.pages_visited), "errors": len(findings.errors)}
    )
    if usage is None:
        return {"findings": [findings]}
    return {"findings": [findings], "usage": usage}


async def llm_subagent(
    task: SiteTask,
    ctx: Context,
    models: ModelOverrides | None,
    thread_id: str,
    progress: Progress,
    recorded: Sequence[ModelUsage] = (),
) -> tuple[Callable[[], Awaitable[Findings]], ModelUsage]:
    """The llm subagent to run and its usage record; raises ModelUnavailable before starting.

    `recorded`: the run's usage when it fanned out, the budget's floor (a resumed run's
    branches in a new process do not start from zero).
    """
    model, meter = await metered_model(
        ctx, "browser", models, thread_id, recorded, task_id=task.task_id
    )

    async def run() -> Findings:
        # Imported here, so offline runs never load the tools' langchain-community import.
        from nodes.browse.llm import run_llm_subagent

        return await run_llm_subagent(
            task,
            ctx,
            model,
            meter,
            artifacts_root=ctx.runs_dir,
            thread_id=thread_id,
            progress=progress,
        )

    return run, meter.record


def _model_unavailable(task: SiteTask, exc: ModelUnavailable) -> Findings:
    error = SubagentError(where=task.url, kind="model_unavailable", message=str(exc))
    return Findings(
        task_id=task.task_id,
        site=task.url,
        goal=task.goal,
        status="failed",
        errors=[error],
        brain="llm",
    )
