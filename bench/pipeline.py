"""The whole pipeline: the demo as a user runs it, in-process graph time, state size, subagents."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.checkpoint_demo import read_steps, replay
from bench.report import Result
from demo_sites.demo import DEMO_QUESTION
from demo_sites.server import SITES_DIR, DemoSites
from graph.builder import trust_only_our_models
from graph.context import Context
from graph.models import SiteTask
from graph.runner import Runner
from memory.checkpoint import redis_saver
from memory.redis_server import EmbeddedRedis
from nodes.browse.subagent import run_subagent

# Progress lines the CLI writes on stderr: "[  7.30s] analyst: started {...}".
_STAMP = re.compile(r"^\[\s*([\d.]+)s\]\s+(plan|analyst|report|remember): (\w+)", re.M)
PHASES = ("plan", "browse", "analyse", "report", "remember")
_SCRUBBED_ENV = ("REDIS_URL", "FLOTILLA_ALLOW_HOSTS", "FLOTILLA_MODEL")


@dataclass
class DemoRun:
    """What one demo run took, and what it left behind."""

    wall_s: float
    subagent_s: dict[str, float] = field(default_factory=dict)
    analyst_s: float | None = None
    phases_s: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _flotilla_argv() -> list[str]:
    script = Path(sys.executable).with_name("flotilla")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli.main"]


def _bench_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    return env | {
        "FLOTILLA_RUNS_DIR": str(tmp / "runs"),
        "FLOTILLA_STATE_DIR": str(tmp / "state"),
    }


def phases_from_stderr(stderr: str) -> dict[str, float]:
    """Seconds per phase from the CLI's progress lines; a phase whose line is missing is left out.

    plan = start → plan line; browse → analyst started; analyse → analyst done; report → report
    done; remember → remember done.
    """
    stamps: dict[tuple[str, str], float] = {}
    for m in _STAMP.finditer(stderr):
        stamps.setdefault((m[2], m[3] if m[2] != "plan" else ""), float(m[1]))
    marks = [
        ("plan", ("plan", "")),
        ("browse", ("analyst", "started")),
        ("analyse", ("analyst", "done")),
        ("report", ("report", "done")),
        ("remember", ("remember", "done")),
    ]
    out, before = {}, 0.0
    for phase, key in marks:
        at = stamps.get(key)
        if at is None:
            break
        out[phase], before = at - before, at
    return out


def demo_subprocess(tier: str | None = None) -> DemoRun:
    """`flotilla demo --json` in a fresh process with its own runs and state folders.

    `tier` sets ``FLOTILLA_SANDBOX_TIER`` for it (None: the default choice).
    """
    with tempfile.TemporaryDirectory(prefix="flotilla-bench-demo-") as name:
        tmp = Path(name)
        env = _bench_env(tmp) | ({"FLOTILLA_SANDBOX_TIER": tier} if tier else {})
        started = time.perf_counter()
        done = subprocess.run(
            [*_flotilla_argv(), "demo", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        wall = time.perf_counter() - started
    if done.returncode != 0:
        msg = f"flotilla demo exited {done.returncode}:\n{done.stderr[-2000:]}"
        raise RuntimeError(msg)
    out = json.loads(done.stdout)
    return DemoRun(
        wall_s=wall,
        subagent_s={s["task_id"]: s["elapsed_s"] for s in out["subagents"]},
        analyst_s=phases_from_stderr(done.stderr).get("analyse"),
        phases_s=phases_from_stderr(done.stderr),
    )


def _tree_bytes(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def _state_sizes(values: dict[str, Any], serde: Any) -> dict[str, Any]:
    as_json = json.dumps(values, default=str)
    per_key = {k: len(json.dumps(v, default=str)) for k, v in values.items()}
    kind, blob = serde.dumps_typed(values)
    return {
        "serde_bytes": len(blob),
        "serde_type": kind,
        "json_bytes": len(as_json),
        "largest_key": max(per_key, key=lambda k: per_key[k]),
        "largest_key_bytes": max(per_key.values()),
        "has_html": "<html" in as_json.lower() or "</table>" in as_json.lower(),
    }


async def demo_in_process() -> DemoRun:
    """The demo through `graph.runner.Runner` in this process, as the CLI runs it, plus its state."""
    tmp = Path(tempfile.mkdtemp(prefix="flotilla-bench-graph-"))
    try:
        return await _demo_in_process(tmp)
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, ignore_errors=True)


async def _demo_in_process(tmp: Path) -> DemoRun:
    started = time.perf_counter()
    stamps: dict[tuple[str, str], float] = {}

    def stamp(event: dict[str, Any]) -> None:
        stamps.setdefault((str(event.get("event")), str(event.get("state"))), time.perf_counter())

    with DemoSites() as sites:
        ctx = Context(brain="offline", runs_dir=str(tmp / "runs"))
        ctx.allow_hosts = [*ctx.allow_hosts, *sites.allow_hosts]
        thread = f"bench-{uuid.uuid4().hex[:12]}"
        server = EmbeddedRedis(tmp / "state" / "redis")
        await asyncio.to_thread(server.start)
        try:
            redis_up = time.perf_counter()
            runner = Runner(redis_url=server.url, on_event=stamp)
            graph_started = time.perf_counter()
            result = await runner.run(DEMO_QUESTION, list(sites.urls.values()), ctx, thread=thread)
            graph_s = time.perf_counter() - graph_started
            # The serde the graph really checkpoints with (build_graph makes it strict).
            async with redis_saver(server.url) as saver:
                serde = trust_only_our_models(saver).serde
            sizes = _state_sizes(result.values, serde)
            steps = await read_steps(server.url, thread)
            checkpoint_ms = await replay(server.url, steps)
        finally:
            await asyncio.to_thread(server.stop)
    wall = time.perf_counter() - started
    run_bytes, run_files = await asyncio.to_thread(_tree_bytes, tmp / "runs" / thread)
    site_bytes, _ = await asyncio.to_thread(_tree_bytes, SITES_DIR)
    a0, a1 = stamps.get(("analyst", "started")), stamps.get(("analyst", "done"))
    findings = result.values.get("findings") or []
    return DemoRun(
        wall_s=wall,
        subagent_s={f.task_id: f.elapsed_s for f in findings},
        analyst_s=None if a0 is None or a1 is None else a1 - a0,
        extra={
            "graph_s": graph_s,
            "redis_start_s": redis_up - started,
            "browse_phase_s": None if a0 is None else a0 - graph_started,
            "run_dir_bytes": run_bytes,
            "run_dir_files": run_files,
            "demo_site_bytes": site_bytes,
            "supersteps": len(steps),
            "checkpoint_ms": checkpoint_ms,
            **sizes,
        },
    )


async def subagents(*, repeats: int) -> list[Result]:
    """`run_subagent` on each demo site alone: a full offline browse in a fresh sandbox."""
    results = []
    with DemoSites() as sites, tempfile.TemporaryDirectory(prefix="flotilla-bench-sub-") as tmp:
        ctx = Context(brain="offline", runs_dir=tmp)
        ctx.allow_hosts = [*ctx.allow_hosts, *sites.allow_hosts]
        for name, url in sites.urls.items():
            r = Result("subagent", f"run_subagent alone: {name}", "s")
            pages: set[int] = set()
            for i in range(repeats):
                task = SiteTask(task_id="site-1", url=url, goal=DEMO_QUESTION)
                started = time.perf_counter()
                findings = await run_subagent(
                    task, ctx, artifacts_root=tmp, thread_id=f"bench-{i}", progress=_quiet
                )
                r.samples.append(time.perf_counter() - started)
                pages.add(len(findings.pages_visited))
                if findings.status != "ok":
                    r.anchor = f"status {findings.status!r}: {findings.errors[:1]}"
            r.anchor = r.anchor or f"{'/'.join(map(str, sorted(pages)))} pages, status ok"
            results.append(r)
    return results


def _quiet(step: str, fields: dict[str, object]) -> None:
    """Progress goes nowhere: the benchmark only times the subagent."""
