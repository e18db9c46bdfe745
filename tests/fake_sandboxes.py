"""Stand-ins for the browser subagent and the code sandbox, for graph tests with neither.

They plug into the graph's own seams, `build_graph(subagent=..., code_sessions=...)` (and the
same fields of `graph.runner.Runner`): `FakeSubagents` returns what a browser would have read
on each site, `FakeCodeSessions` opens sessions that answer as the analysis code would. Used by
tests/graph/test_graph_fast.py and tests/integration/test_runner.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import json
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from graph.context import Context
from graph.models import ArtifactRef, Fact, Findings, SiteTask, SubagentError, TableRef
from sandbox.interpreter import ExecResult


def _csv(rows: list[tuple[str, str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([("Plan", "Price"), *rows])
    return buffer.getvalue().encode()


def _png() -> bytes:
    """A 1×1 PNG: what a chart file looks like to the analyst."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


class FakeSubagents:
    """Stands in for `run_subagent`: what a browser would have read on each site, no browser.

    Each site of `prices` has one table of (plan, price) rows; a site in `unreachable` fails
    as a refused connection does; the first subagent on a site in `crash_once` dies as a
    killed process would (after awaiting `before_crash(thread_id)`), later ones read it.
    """

    def __init__(
        self,
        prices: dict[str, list[tuple[str, str]]],
        *,
        unreachable: Collection[str] = (),
        crash_once: Collection[str] = (),
        before_crash: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """Sites' tables by URL, the sites that fail and those whose first subagent dies."""
        self.prices, self.unreachable = prices, set(unreachable)
        self.crash_once, self.before_crash = set(crash_once), before_crash
        self.calls: list[str] = []

    async def __call__(
        self,
        task: SiteTask,
        ctx: Context,
        *,
        artifacts_root: str,
        thread_id: str,
        progress: Any,
    ) -> Findings:
        """Research `task`'s site as the fake says; write its table as a real subagent would."""
        self.calls.append(task.url)
        if task.url in self.unreachable:
            error = SubagentError(where=task.url, kind="unreachable", message="connection refused")
            return Findings(
                task_id=task.task_id, site=task.url, goal=task.goal, status="failed", errors=[error]
            )
        if task.url in self.crash_once:
            self.crash_once.discard(task.url)
            if self.before_crash is not None:
                await self.before_crash(thread_id)
            raise RuntimeError("the subagent's process was killed")
        progress("page", {"pages": 1, "url": task.url})
        rows = self.prices[task.url]
        table = Path(artifacts_root) / thread_id / "artifacts" / task.task_id / "table-1.csv"
        data = _csv(rows)
        table.parent.mkdir(parents=True, exist_ok=True)
        table.write_bytes(data)
        ref = ArtifactRef(
            path=str(table),
            media_type="text/csv",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        return Findings(
            task_id=task.task_id,
            site=task.url,
            site_name=f"Vendor {task.task_id}",
            goal=task.goal,
            pages_visited=[task.url + "pricing"],
            summary="Plans and prices from the pricing page.",
            key_facts=[Fact(text=f"The cheapest plan costs {rows[0][1]}.", source_url=task.url)],
            tables=[
                TableRef(
                    artifact=ref, source_url=task.url, columns=["Plan", "Price"], n_rows=len(rows)
                )
            ],
        )


class FakeCodeSession:
    """Stands in for a code-interpreter session: keeps the files written, answers like the code.

    It runs nothing: `execute` writes what the analysis code would (a chart and a summary with
    one highlight per table in the manifest; for the offline analyst's profiling step, an
    empty plan).
    """

    tier = "fake"

    def __init__(self) -> None:
        """An empty work dir: nothing written, nothing run."""
        self.files: dict[str, bytes] = {}
        self.executed: list[str] = []

    async def execute(self, code: str) -> ExecResult:
        """Record `code` and write what the analysis code would have written."""
        self.executed.append(code)
        manifest = json.loads(self.files["manifest.json"])
        if "write_plan" in code:  # the offline analyst's first step: the plan, no metrics
            plan = {"question": manifest["question"], "fx_to_usd": None, "tables": []}
            self.files["plan.json"] = json.dumps(plan).encode()
            return ExecResult(exit_status=0, tier=self.tier, files=["plan.json"])
        highlights = [
            f"{t['site']} lists {len(self.files[t['path']].splitlines()) - 1} plans"
            for t in manifest["tables"]
        ]
        summary = {"highlights": highlights, "comparison_markdown": "| Plan | Price |"}
        self.files["out/summary.json"] = json.dumps(summary).encode()
        self.files["out/prices.png"] = _png()
        return ExecResult(exit_status=0, tier=self.tier, files=["out/summary.json"])

    async def write_file(self, path: str, data: bytes) -> None:
        """Keep `data` as the work dir's `path`."""
        self.files[path] = data

    async def read_file(self, path: str) -> bytes:
        """The bytes of the work dir's `path`."""
        return self.files[path]

    async def list_files(self) -> list[str]:
        """Every file of the work dir, sorted."""
        return sorted(self.files)

    async def stop(self) -> None:
        """Nothing runs, so nothing to stop."""


class FakeCodeSessions:
    """Opens a fresh `FakeCodeSession` per analysis run and keeps them for the test to read."""

    def __init__(self) -> None:
        """No session opened yet."""
        self.opened: list[FakeCodeSession] = []

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[FakeCodeSession]:
        """A fresh session, kept in `opened`."""
        session = FakeCodeSession()
        self.opened.append(session)
        yield session


async def findings_checkpointed(saver: BaseCheckpointSaver, thread_id: str, count: int) -> None:
    """Wait (up to 5 s) until `count` branches' findings are pending writes of the checkpoint.

    A crash that lands after this leaves those branches finished: a resume does not rerun them.
    """
    config: Any = {"configurable": {"thread_id": thread_id}}
    async with asyncio.timeout(5):
        while True:
            saved = await saver.aget_tuple(config)
            writes = (saved.pending_writes or []) if saved else []
            if sum(channel == "findings" for _, channel, _ in writes) >= count:
                return
            await asyncio.sleep(0.005)
