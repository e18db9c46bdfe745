"""The browser subagent node: one branch of the fan-out, one private browser sandbox.

Both brains run in the same machinery: `run_subagent` opens the sandbox behind the egress
policy, holds the subagent to its time limit, turns crashes into errors and records refusals;
a `SiteBrain` decides what to do with the browser (the offline explorer, or the llm brain's
tool loop in `nodes.llm.browse`) and how what it collected becomes `Findings`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from langgraph.runtime import Runtime
from playwright.async_api import Error as PlaywrightError

from graph.context import Context
from graph.models import Findings, ModelUsage, SiteTask, SubagentError
from graph.state import BrowseTask
from nodes.artifacts import run_dir
from nodes.llm.chat import ModelOverrides, ModelUnavailable, metered_model
from nodes.offline_browse import Collected, Progress, build_findings, explore, refused_findings
from nodes.progress import emit, thread_id_of
from sandbox.browser import BrowserSession, browser_sandbox
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


class SiteBrain(Protocol):
    """What one subagent does with its browser, and how what it collected becomes Findings."""

    async def browse(self, session: BrowserSession, collected: Collected) -> None:
        """Drive the browser, keeping what is read in `collected` as it goes."""
        ...

    def findings(self, collected: Collected, *, artifacts: Path, elapsed_s: float) -> Findings:
        """Findings from what was collected (file and CPU work: called in a thread)."""
        ...

    def refused(self, refusal: EgressRefused) -> Findings:
        """Findings for a start URL the egress policy refused."""
        ...


@dataclass
class OfflineBrain:
    """The offline brain: read the start page, then the goal-relevant same-site links."""

    task: SiteTask
    ctx: Context
    progress: Progress

    async def browse(self, session: BrowserSession, collected: Collected) -> None:
        await explore(
            session,
            self.task,
            max_pages=self.ctx.max_pages,
            collected=collected,
            progress=self.progress,
        )

    def findings(self, collected: Collected, *, artifacts: Path, elapsed_s: float) -> Findings:
        return build_findings(self.task, collected, artifacts=artifacts, elapsed_s=elapsed_s)

    def refused(self, refusal: EgressRefused) -> Findings:
        return refused_findings(self.task, refusal)


class Subagent(Protocol):
    """Researches one site and returns its Findings, never raising: `run_subagent`'s shape.

    The browser node runs `run_subagent` (the offline brain in a real browser sandbox) unless
    the graph is built with another (`build_graph(subagent=...)`, e.g. a test's, with no
    Chromium); the llm brain's subagents always drive a real browser.
    """

    async def __call__(
        self,
        task: SiteTask,
        ctx: Context,
        *,
        artifacts_root: str,
        thread_id: str,
        progress: Progress,
    ) -> Findings:
        """Research `task`'s site, writing files under `artifacts_root`."""
        ...


def artifacts_dir(artifacts_root: str, thread_id: str, task_id: str) -> Path:
    """Where one subagent's files go (tables, screenshots); file work, call it in a thread."""
    return run_dir(artifacts_root, thread_id) / "artifacts" / task_id


async def run_subagent(
    task: SiteTask,
    ctx: Context,
    *,
    artifacts_root: str,
    thread_id: str,
    progress: Progress,
    brain: SiteBrain | None = None,
) -> Findings:
    """Research one site in a fresh browser sandbox; always returns Findings, never raises.

    `brain` drives the browser; the offline brain when none is given.
    """
    brain = brain or OfflineBrain(task, ctx, progress)
    policy = EgressPolicy.for_sites([task.url], ctx.allow_hosts)
    try:
        await asyncio.to_thread(policy.check, task.url)  # may resolve DNS: off the event loop
    except EgressRefused as refusal:
        return brain.refused(refusal)
    collected, started = Collected(), time.monotonic()
    try:
        async with asyncio.timeout(ctx.subagent_timeout_s):
            await _browse(brain, ctx, policy, collected)
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

    def finish() -> Findings:
        # Writes the tables as CSV artifacts and ranks text: file and CPU work, run in a thread.
        artifacts = artifacts_dir(artifacts_root, thread_id, task.task_id)
        return brain.findings(collected, artifacts=artifacts, elapsed_s=elapsed)

    return await asyncio.to_thread(finish)


async def _browse(
    brain: SiteBrain, ctx: Context, policy: EgressPolicy, collected: Collected
) -> None:
    async with browser_sandbox(policy) as session:
        session.page.set_default_timeout(ctx.page_timeout_s * 1000)
        jail = session.jail if session.jail != "none" else f"none: {session.jail_reason}"
        collected.browser_jail = jail
        try:
            await brain.browse(session, collected)
        finally:
            # Sub-requests the gate refused (not already a page error) belong in the report too.
            known = {error.where for error in collected.errors}
            collected.errors.extend(
                SubagentError(where=r.url, kind="refused", rule=r.rule, message=str(r))
                for r in session.refused
                if r.url not in known
            )


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
        from nodes.llm.browse import run_llm_subagent

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
