"""The sandbox every browser subagent runs in, whichever brain drives it.

`run_subagent` opens the browser sandbox behind the egress policy, holds the subagent to its
time limit, turns crashes into errors and records refusals; a `SiteBrain` decides what to do
with the browser (`nodes.browse.offline`, or the llm brain's tool loop in `nodes.browse.llm`)
and how what it collected becomes `Findings`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from playwright.async_api import Error as PlaywrightError

from graph.context import Context
from graph.models import Findings, SiteTask, SubagentError
from nodes.artifacts import run_dir
from nodes.browse.offline import OfflineBrain
from nodes.browse.pages import Collected, Progress
from nodes.llm.limits import DEADLINE
from sandbox.agentcore.browser import agentcore_browser_sandbox
from sandbox.agentcore.settings import AgentCoreSettings
from sandbox.browser import BrowserSession, browser_sandbox
from sandbox.egress import EgressPolicy, EgressRefused
from sandbox.tier_choice import SandboxUnavailable
from sandbox.usage import SessionMeter

log = logging.getLogger(__name__)


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
    meter = SessionMeter("browser", task.task_id)  # what the browser spends: the cost estimate
    try:
        async with asyncio.timeout(ctx.subagent_timeout_s) as limit:
            DEADLINE.set(limit)  # time queued for a shared model is given back to the limit
            await _browse(brain, ctx, policy, collected, meter)
    except TimeoutError:
        msg = f"stopped at the {ctx.subagent_timeout_s:g} s subagent time limit; kept what was read"
        collected.errors.append(SubagentError(where=task.url, kind="time_limit", message=msg))
    except PlaywrightError as exc:
        msg = f"the browser failed: {str(exc).splitlines()[0]}; kept what was read"
        collected.errors.append(SubagentError(where=task.url, kind="browser_crash", message=msg))
    except SandboxUnavailable as exc:  # e.g. AgentCore refused the session: the message says why
        log.warning("browser sandbox for %s unavailable: %s", task.url, exc)
        kind = getattr(exc, "kind", "sandbox_unavailable")
        collected.errors.append(SubagentError(where=task.url, kind=kind, message=str(exc)))
    except Exception as exc:  # a branch reports its sandbox failing; it never raises
        log.exception("browser sandbox for %s failed", task.url)
        msg = f"the browser sandbox failed: {type(exc).__name__}: {exc}; kept what was read"
        collected.errors.append(SubagentError(where=task.url, kind="sandbox_error", message=msg))
    elapsed = time.monotonic() - started
    meter.end()

    def finish() -> Findings:
        # Writes the tables as CSV artifacts and ranks text: file and CPU work, run in a thread.
        artifacts = artifacts_dir(artifacts_root, thread_id, task.task_id)
        return brain.findings(collected, artifacts=artifacts, elapsed_s=elapsed)

    findings = await asyncio.to_thread(finish)
    findings.sandbox = meter.usage() if meter.attached else None
    return findings


def _browser(ctx: Context, policy: EgressPolicy) -> AbstractAsyncContextManager[BrowserSession]:
    """The subagent's own browser: a local jailed Chromium, or an AgentCore Browser session."""
    if ctx.sandbox_tier == "agentcore":
        remote = AgentCoreSettings(
            region=ctx.agentcore_region,
            endpoint=ctx.agentcore_endpoint,
            # The session lives as long as the subagent may, with a minute to close it.
            session_timeout_s=int(ctx.subagent_timeout_s) + 60,
        )
        return agentcore_browser_sandbox(policy, remote, site=next(iter(policy.sites), ""))
    return browser_sandbox(policy)


async def _browse(
    brain: SiteBrain, ctx: Context, policy: EgressPolicy, collected: Collected, meter: SessionMeter
) -> None:
    async with _browser(ctx, policy) as session:
        session.page.set_default_timeout(ctx.page_timeout_s * 1000)
        jail = session.jail if session.jail != "none" else f"none: {session.jail_reason}"
        collected.browser_jail = jail
        meter.attach(session.jail_pid, session.jail)
        try:
            await brain.browse(session, collected)
        finally:
            await meter.stop_sampling()
            # Sub-requests the gate refused (not already a page error) belong in the report too.
            known = {error.where for error in collected.errors}
            collected.errors.extend(
                SubagentError(where=r.url, kind="refused", rule=r.rule, message=str(r))
                for r in session.refused
                if r.url not in known
            )
