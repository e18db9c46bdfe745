"""The workbench both brains analyse on: the manifest, its tables, a fresh sandbox, `out/`.

The code and the tables go into a fresh code-interpreter session with no network and no view
of the host; only the files it writes under `out/` come back, as artifacts. The offline brain
runs generated code (`nodes.analyse.offline`); the llm brain has a model write and repair it
(`nodes.analyse.llm`) and falls back to the generated code. Both go through one `Workbench`,
so they share the manifest, the sandbox and the way results are collected.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.models import Analysis, Findings, SubagentError
from nodes.analyse.offline import write_analysis
from nodes.artifacts import write_artifact
from sandbox.interpreter import CodeSession, ExecResult, SandboxUnavailable, isolation_label

log = logging.getLogger(__name__)

OUT_DIR = "out"
SUMMARY = f"{OUT_DIR}/summary.json"
# The code files kept beside the outputs, which no output may replace.
CODE_FILE = re.compile(r"analysis\.py|attempt-\d+\.py")
# Most files one run brings back from `out/` (charts, tables, the summary).
MAX_OUTPUT_FILES = 200

# The program that runs inside the sandbox: every module of this folder goes into the work dir,
# where the driver imports its entry module, analysis_runtime.py.
IN_SANDBOX = Path(__file__).with_name("in_sandbox")

# Opens a fresh code-interpreter session; each run of analysis code gets its own.
SessionFactory = Callable[[], AbstractAsyncContextManager[CodeSession]]
# Writes the code to run from what a first step finds in the session (the offline brain's
# profile); returns the code, and the failed result instead when that step failed.
CodeWriter = Callable[[CodeSession], Awaitable[tuple[str, ExecResult | None]]]


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


@dataclass
class CodeRun:
    """One execution of analysis code: the sandbox's result and the files it wrote in `out/`."""

    result: ExecResult
    outputs: dict[str, bytes] = field(default_factory=dict)
    code: str = ""

    @property
    def summary(self) -> bytes | None:
        """The bytes of `out/summary.json`, if the code wrote it."""
        return self.outputs.get(SUMMARY)

    @property
    def isolation(self) -> str:
        """The tier the code ran on, with its syscall filter where that can be missing."""
        return isolation_label(self.result.tier, self.result.syscall_filter)

    @property
    def failed(self) -> bool:
        """Whether the code exited non-zero or raised."""
        return self.result.exit_status != 0 or bool(self.result.error_type)

    def failure(self) -> str:
        """What went wrong, in one line (empty when the code ran)."""
        result = self.result
        if not self.failed:
            return ""
        detail = result.error_message or result.stderr[-500:] or f"exit status {result.exit_status}"
        limit = f" (limit hit: {result.limit_hit})" if result.limit_hit else ""
        return f"the analysis code failed in the {result.tier} sandbox{limit}: {detail}"


@dataclass
class Workbench:
    """What every run of analysis code gets: the manifest, its tables, a fresh session, `out/`.

    `run` executes code and returns what it wrote without keeping anything; `keep` turns a
    run's files into the analysis's artifacts. A failed attempt therefore leaves nothing
    behind, and a retry starts from a clean session with the same inputs.
    """

    manifest: dict[str, Any]
    files: dict[str, Path]
    out: Path
    open_session: SessionFactory
    _inputs: dict[str, bytes] | None = field(default=None, init=False, repr=False)

    @property
    def code_path(self) -> Path:
        """Where the code that produced the analysis is kept, beside its outputs."""
        return self.out / "analysis.py"

    async def save(self, name: str, code: str) -> Path:
        """Keep code as a file under `out` so a person can read and rerun it."""
        path = self.out / name
        await asyncio.to_thread(_write_text, path, code)
        return path

    async def run(self, code: str | CodeWriter) -> CodeRun:
        """Run `code` in a fresh session holding the inputs; raises SandboxUnavailable.

        `code` is the code, or a `CodeWriter` that writes it in the session first.
        """
        if self._inputs is None:  # the same bytes for every attempt: read and encoded once
            self._inputs = await asyncio.to_thread(self._encode_inputs)
        async with self.open_session() as session:
            for name, data in self._inputs.items():
                await session.write_file(name, data)
            failed = None
            if not isinstance(code, str):
                code, failed = await code(session)
            result = failed or await session.execute(code)
            outputs: dict[str, bytes] = {}
            names = [n for n in await session.list_files() if n.startswith(f"{OUT_DIR}/")]
            for name in names[:MAX_OUTPUT_FILES]:
                try:
                    outputs[name] = await session.read_file(name)
                except (OSError, ValueError) as exc:  # e.g. a symlink the code made: refused
                    log.warning("analysis output %s not collected: %s", name, exc)
        return CodeRun(result=result, outputs=outputs, code=code)

    def _encode_inputs(self) -> dict[str, bytes]:
        inputs = {
            **runtime_files(),
            "manifest.json": json.dumps(self.manifest, indent=2).encode(),
        }
        return inputs | {name: path.read_bytes() for name, path in self.files.items()}

    async def keep(self, run: CodeRun, analysis: Analysis) -> None:
        """Write a run's `out/` files as artifacts: PNGs are charts; summary.json is read."""
        for name, data in run.outputs.items():
            target_path = self.out / name.removeprefix(f"{OUT_DIR}/")
            if target_path.parent == self.out and CODE_FILE.fullmatch(target_path.name):
                continue  # never overwrite the kept code (analysis.py, attempt-N.py)
            ref = await asyncio.to_thread(write_artifact, target_path, data)
            target = analysis.charts if ref.media_type == "image/png" else analysis.outputs
            target.append(ref)
            if name == SUMMARY:
                read_summary(data, analysis)

    async def run_offline(self) -> Analysis:
        """Profile the tables, run the script written from the plan, keep what it wrote."""
        try:
            run = await self.run(functools.partial(write_analysis, out_dir=OUT_DIR))
        except SandboxUnavailable as exc:
            if getattr(exc, "retry_later", False):
                raise  # throttled, quota: the analyst stops the run, which can be resumed
            error = SubagentError(where="analyst", kind="sandbox_unavailable", message=str(exc))
            return Analysis(errors=[error])
        await self.save(self.code_path.name, run.code)
        analysis = Analysis(sandbox_tier=run.isolation, code_path=str(self.code_path))
        if run.failed:
            message = run.failure()
            analysis.errors.append(
                SubagentError(where="analyst", kind="analysis_failed", message=message)
            )
        await self.keep(run, analysis)
        return analysis


@functools.cache
def runtime_files() -> dict[str, bytes]:
    """The sandbox-side program as file name to bytes, for the sandbox work dir.

    Read once per process: every analyst attempt writes it.
    """
    return {path.name: path.read_bytes() for path in sorted(IN_SANDBOX.glob("*.py"))}


def read_summary(data: bytes, analysis: Analysis) -> None:
    """Fill highlights, comparison and warnings from `out/summary.json` (bounded)."""
    summary = json.loads(data)
    analysis.highlights = [str(h) for h in summary.get("highlights", [])][:20]
    analysis.comparison_markdown = str(summary.get("comparison_markdown", ""))[:20_000]
    for warning in summary.get("warnings", []):
        analysis.errors.append(SubagentError(where="analyst", kind="warning", message=str(warning)))


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def no_tables() -> Analysis:
    """The analysis when no branch found a table: nothing to run, said so."""
    msg = "no subagent found a table to compare; the report lists the facts it found instead"
    return Analysis(errors=[SubagentError(where="analyst", kind="no_tables", message=msg)])
