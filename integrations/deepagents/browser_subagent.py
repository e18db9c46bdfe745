"""Flotilla's browser subagent as a Deep Agents ``CompiledSubAgent``.

A ``create_deep_agent(...)`` coordinator fans out to it with its ``task`` tool: each call runs one
Flotilla browser subagent (``nodes.browse.subagent.run_subagent``): its own jailed, throw-away Chromium
behind the egress policy, the offline brain reading the start page and the goal's same-site
links, and its ``Findings`` (JSON) back as the subagent's message.

Only the sites it was built with can be researched: a task description that names no URL on
one of them comes back as refused Findings (rule ``off_plan``) without a browser being started,
so a model cannot steer the browser elsewhere. When built with a ``FlotillaSandbox``, the tables
it read are also uploaded into that sandbox (``/work/findings/<task>/...``) and the Findings name
those paths, so the coordinator can analyse them there with ``execute``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deepagents import CompiledSubAgent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableLambda

from graph.context import Context
from graph.models import Findings, SiteTask, SubagentError
from integrations.deepagents.backend import FlotillaSandbox
from nodes.browse.subagent import run_subagent
from sandbox.egress import origin

log = logging.getLogger(__name__)

NAME = "flotilla-browser"
DESCRIPTION = (
    "Researches ONE web site in an isolated browser and returns what it found as JSON Findings "
    "(summary, key facts with their source URLs, tables read, errors). Give it the site's URL "
    "and what to find there, e.g. 'https://example.com/ - monthly price of each plan'. It can "
    "only visit these sites: {sites}. Call it once per site; calls run in parallel."
)
_URL = re.compile(r"https?://[^\s<>\"'`)\]]+")
GOAL_MAX_CHARS = 500
_ids = itertools.count(1)


def _task_text(state: dict[str, Any]) -> str:
    """The task description: the last human message the coordinator's ``task`` tool sent."""
    messages: Sequence[BaseMessage] = state.get("messages", [])
    found = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    return "" if found is None else str(found.text)


def plan_task(description: str, sites: Sequence[str], task_id: str) -> SiteTask | Findings:
    """The ``SiteTask`` a description asks for, or refused Findings when it names no known site.

    The start URL is the first URL in the description on one of ``sites`` (by origin).
    """
    allowed = {origin(site) for site in sites}
    urls = [url.rstrip(".,;:") for url in _URL.findall(description)]
    url = next((u for u in urls if origin(u) in allowed), None)
    goal = " ".join(description.split())[:GOAL_MAX_CHARS]
    if url is not None:
        return SiteTask(task_id=task_id, url=url, goal=goal)
    asked = urls[0] if urls else ""
    message = (
        f"{asked or 'the task'} is not on one of the sites this subagent may research "
        f"({', '.join(sorted(sites))}); nothing was fetched"
    )
    error = SubagentError(where=asked or "task", kind="refused", rule="off_plan", message=message)
    return Findings(task_id=task_id, site=asked, goal=goal, status="refused", errors=[error])


class BrowserSubagent:
    """Runs one Flotilla browser subagent per task; the runnable behind the subagent spec."""

    def __init__(
        self,
        sites: Sequence[str],
        *,
        context: Context | None = None,
        sandbox: FlotillaSandbox | None = None,
        thread_id: str = "deepagents",
    ) -> None:
        """``sites``: the start URLs it may research; ``context``: Flotilla's run settings."""
        if not sites:
            raise ValueError("a browser subagent needs at least one site it may research")
        self.sites = list(sites)
        self.context = context or Context()
        self.sandbox = sandbox
        self.thread_id = thread_id

    async def research(self, description: str) -> Findings:
        """Findings for one task description (never raises for a site's failure)."""
        planned = plan_task(description, self.sites, f"deepagents-{next(_ids)}")
        if isinstance(planned, Findings):
            return planned
        findings = await run_subagent(
            planned,
            self.context,
            artifacts_root=self.context.runs_dir,
            thread_id=self.thread_id,
            progress=lambda step, fields: log.info("%s %s %s", planned.url, step, fields),
        )
        if self.sandbox is not None and findings.tables:
            findings = await self._share_tables(findings)
        return findings

    async def _share_tables(self, findings: Findings) -> Findings:
        """Upload the tables' CSVs into the sandbox; the Findings then name those paths."""
        assert self.sandbox is not None
        sources = [Path(table.artifact.path) for table in findings.tables]
        datas = await asyncio.to_thread(lambda: [p.read_bytes() for p in sources])
        inside = [f"/work/findings/{findings.task_id}/{p.name}" for p in sources]
        answers = await self.sandbox.aupload_files(list(zip(inside, datas, strict=True)))
        tables = []
        for table, path, answer in zip(findings.tables, inside, answers, strict=True):
            if answer.error is None:
                artifact = table.artifact.model_copy(update={"path": path})
                table = table.model_copy(update={"artifact": artifact})
            tables.append(table)
        return findings.model_copy(update={"tables": tables})

    async def ainvoke_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """The subagent's graph step: the task message in, the Findings JSON message out."""
        findings = await self.research(_task_text(state))
        return {"messages": [AIMessage(content=findings.model_dump_json())]}

    def invoke_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """Sync ``ainvoke_state`` (deepagents calls it from a worker thread)."""
        return asyncio.run(self.ainvoke_state(state))


def browser_subagent(
    sites: Sequence[str],
    *,
    context: Context | None = None,
    sandbox: FlotillaSandbox | None = None,
    name: str = NAME,
    thread_id: str = "deepagents",
) -> CompiledSubAgent:
    """A ``CompiledSubAgent`` spec for ``create_deep_agent(subagents=[...])``.

    ``sites``: the start URLs it may research (their origins are the egress policy's sites);
    ``context``: Flotilla's settings (``max_pages``, time limits, ``allow_hosts`` for loopback
    or private hosts, ``runs_dir`` for the tables it writes); ``sandbox``: where to put the
    tables for the coordinator's ``execute``.
    """
    runner = BrowserSubagent(sites, context=context, sandbox=sandbox, thread_id=thread_id)
    runnable = RunnableLambda(runner.invoke_state, afunc=runner.ainvoke_state, name=name)
    description = DESCRIPTION.format(sites=", ".join(runner.sites))
    return CompiledSubAgent(name=name, description=description, runnable=runnable)
