"""The browser subagent node: one branch of the fan-out, one private browser sandbox."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from typing import Any

from langgraph.runtime import Runtime
from playwright.async_api import Error as PlaywrightError

from graph.context import Context
from graph.models import Findings, SiteTask, SubagentError
from graph.state import BrowseTask
from nodes.artifacts import run_dir
from nodes.llm.chat import ModelOverrides
from nodes.offline_browse import Collected, Progress, build_findings, explore, refused_findings
from nodes.progress import emit, thread_id_of
from sandbox.browser import browser_sandbox
from sandbox.egress import EgressPolicy, EgressRefused

log = logging.getLogger(__name__)

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


async def run_subagent(
    task: SiteTask, ctx: Context, *, artifacts_root: str, thread_id: str, progress: Progress
) -> Findings:
    """Research one site in a fresh browser sandbox; always returns Findings, never raises."""
    policy = EgressPolicy.for_sites([task.url], ctx.allow_hosts)
    try:
        await asyncio.to_thread(policy.check, task.url)  # may resolve DNS: off the event loop
    except EgressRefused as refusal:
        return refused_findings(task, refusal)
    collected, started = Collected(), time.monotonic()
    try:
        async with asyncio.timeout(ctx.subagent_timeout_s):
            await _browse(task, ctx, policy, collected, progress)
    except TimeoutError:
        msg = f"stopped at the {ctx.subagent_timeout_s:g} s subagent time limit; kept what was read"
        collected.errors.append(SubagentError(where=task.url, kind="time_limit", message=msg))
    except PlaywrightError as exc:
        msg = f"the browser failed: {str(exc).splitlines()[0]}; kept what was read"
        collected.errors.append(SubagentError(where=task.url, kind="browser_crash", message=msg))
    except Exception as exc:  # a branch reports its sandbox failing; it never raises
        log.exception("browser sandbox for %s failed", task.url)
        msg = f"the browser sandbox failed: {type(exc).__name__}: {exc}; kept what was read"
        collected.errors.append(SubagentError(where=task.url, kind="sandbox_error", message=msg))
    elapsed = time.monotonic() - started
    return await asyncio.to_thread(
        _finish,
        task,
        collected,
        artifacts_root=artifacts_root,
        thread_id=thread_id,
        elapsed=elapsed,
    )


def _finish(
    task: SiteTask, collected: Collected, *, artifacts_root: str, thread_id: str, elapsed: float
) -> Findings:
    # Writes the tables as CSV artifacts and ranks text: file and CPU work, run in a thread.
    artifacts = run_dir(artifacts_root, thread_id) / "artifacts" / task.task_id
    return build_findings(task, collected, artifacts=artifacts, elapsed_s=elapsed)


async def _browse(
    task: SiteTask, ctx: Context, policy: EgressPolicy, collected: Collected, progress: Progress
) -> None:
    async with browser_sandbox(policy) as session:
        session.page.set_default_timeout(ctx.page_timeout_s * 1000)
        jail = session.jail if session.jail != "none" else f"none: {session.jail_reason}"
        collected.browser_jail = jail
        try:
            await explore(
                session, task, max_pages=ctx.max_pages, collected=collected, progress=progress
            )
        finally:
            # Sub-requests the gate refused (not already a page error) belong in the report too.
            known = {error.where for error in collected.errors}
            collected.errors.extend(
                SubagentError(where=r.url, kind="refused", rule=r.rule, message=str(r))
                for r in session.refused
                if r.url not in known
            )


async def browser(
    state: BrowseTask, runtime: Runtime[Context], *, models: ModelOverrides | None = None
) -> dict[str, Any]:
    """Graph node: run one subagent under the run's parallelism cap and report its findings."""
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
    async with run_slot, server_slot:
        progress("started", {"pages": 0})
        findings = await run_subagent(
            task, ctx, artifacts_root=ctx.runs_dir, thread_id=thread_id, progress=progress
        )
    progress(
        findings.status, {"pages": len(findings.pages_visited), "errors": len(findings.errors)}
    )
    return {"findings": [findings]}
