"""Memory benchmarks: checkpoint cost per superstep, resume time, recall latency (no assertions).

.venv/bin/python -m bench.memory_bench [--quick] [--json PATH]

- checkpoint: one superstep of a graph shaped like the demo's (coordinator → 3 browser
  branches → analyst → report → remember), with demo-sized state (three findings with
  1.5 kB summaries, facts and table references, a plan and an analysis), timed per superstep
  with our Redis saver (as `build_graph` makes it strict, `durability="sync"` like the CLI;
  its writes are upstream `AsyncRedisSaver`'s own) vs `InMemorySaver` vs no saver, interleaved
  run by run.
- resume: the same graph stopped in the fan-out (one branch fails after two finished, as a
  kill leaves it), then `astream(None)`: the time to load the checkpoint and finish the run.
- recall: `memory.insights.recall` over 10,000 insights in one namespace (full-text index).

Everything runs on a private embedded Redis in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import PutOp
from langgraph.types import Durability, Send

from bench.report import Result, markdown
from graph.builder import trust_only_our_models
from graph.models import Analysis, ArtifactRef, Fact, Findings, Plan, SiteTask, TableRef
from graph.state import BrowseTask, ResearchState
from memory.checkpoint import redis_saver
from memory.insights import Insight, insight_key, recall, redis_store
from memory.redis_server import EmbeddedRedis

SUPERSTEP_TARGET = "issue target: Redis adds ≤ 2 ms median per superstep over in-memory"
RECALL_TARGET = "issue target: recall p50 ≤ 20 ms at 10,000 insights"
SITES = 3
WORDS = [
    "price",
    "storage",
    "plan",
    "monthly",
    "annual",
    "vendor",
    "bucket",
    "egress",
    "archive",
    "tier",
    "team",
    "seat",
    "backup",
    "region",
    "latency",
    "quota",
    "transfer",
    "discount",
    "support",
    "uptime",
    "replica",
    "snapshot",
    "encryption",
]


def _ref(name: str) -> ArtifactRef:
    return ArtifactRef(
        path=f"runs/t/artifacts/{name}", media_type="text/csv", size=2048, sha256="0" * 64
    )


def demo_findings(task: SiteTask) -> Findings:
    """Findings the size of a demo subagent's: 1.5 kB summary, 8 facts, 2 tables, 4 pages."""
    rng = random.Random(task.task_id)

    def sentence() -> str:
        return " ".join(rng.choices(WORDS, k=18)).capitalize() + " costs $12.50/mo."

    return Findings(
        task_id=task.task_id,
        site=task.url,
        site_name=f"Vendor {task.task_id}",
        goal=task.goal,
        pages_visited=[f"{task.url}page{i}.html" for i in range(4)],
        summary=" ".join(sentence() for _ in range(12))[:1500],
        key_facts=[Fact(text=sentence(), source_url=task.url, score=0.5) for _ in range(8)],
        tables=[
            TableRef(
                artifact=_ref(f"{task.task_id}-{i}.csv"),
                source_url=task.url,
                caption="Plans",
                columns=["Plan", "Price", "Storage"],
                n_rows=4,
                numeric=True,
            )
            for i in range(2)
        ],
        elapsed_s=2.5,
    )


class _Fail:
    """Makes the named task fail once, as a killed run leaves it."""

    task_id: str | None = None


def build_demo_shaped_graph() -> Any:
    """The demo's topology with instant nodes that produce demo-sized values."""

    def coordinator(state: ResearchState) -> dict[str, Any]:
        tasks = [
            SiteTask(task_id=f"site-{i}", url=f"http://vendor{i}.example/", goal=state["question"])
            for i in range(1, SITES + 1)
        ]
        return {"plan": Plan(tasks=tasks), "brain": "offline", "thread_id": "bench"}

    def fan_out(state: ResearchState) -> list[Send]:
        return [Send("browser", BrowseTask(task=t, brain="offline")) for t in state["plan"].tasks]

    def browser(state: BrowseTask) -> dict[str, Any]:
        if state["task"].task_id == _Fail.task_id:
            _Fail.task_id = None
            raise RuntimeError("killed")
        return {"findings": [demo_findings(state["task"])]}

    def analyst(state: ResearchState) -> dict[str, Any]:
        table = "\n".join("| Plan | $12.50/mo | 500 GB |" for _ in range(12))
        charts = [_ref(f"chart{i}.png") for i in range(4)]
        highlights = [f"Cheapest monthly price: plan {i} at $3.00/mo" for i in range(5)]
        return {
            "analysis": Analysis(charts=charts, comparison_markdown=table, highlights=highlights)
        }

    def report(state: ResearchState) -> dict[str, Any]:
        return {
            "report_path": "runs/t/report.md",
            "answer": "\n".join(state["analysis"].highlights),
        }

    def remember(state: ResearchState) -> dict[str, Any]:
        return {}

    builder = StateGraph(ResearchState)
    for name, node in [("coordinator", coordinator), ("browser", browser), ("analyst", analyst),
                       ("report", report), ("remember", remember)]:  # fmt: skip
        builder.add_node(name, node)
    builder.add_edge(START, "coordinator")
    builder.add_conditional_edges("coordinator", fan_out, ["browser"])
    builder.add_edge("browser", "analyst")
    builder.add_edge("analyst", "report")
    builder.add_edge("report", "remember")
    builder.add_edge("remember", END)
    return builder


INPUT = {"question": "Compare the monthly price and storage of each vendor's plans", "urls": []}


async def _per_run(
    saver: BaseCheckpointSaver | None, thread: str, durability: Durability = "sync"
) -> float:
    """Whole-run seconds divided by its supersteps (input + 5 steps)."""
    app = build_demo_shaped_graph().compile(checkpointer=saver)
    config: Any = {"configurable": {"thread_id": thread}}
    started = time.perf_counter()
    # langgraph 1.x fails on durability="sync" without a checkpointer; it means nothing there.
    await app.ainvoke(INPUT, config, durability=durability if saver is not None else None)
    return (time.perf_counter() - started) / 6


@asynccontextmanager
async def _savers(url: str) -> AsyncIterator[dict[str, BaseCheckpointSaver | None]]:
    async with redis_saver(url) as redis_backed:
        yield {
            "none": None,
            "in-memory": trust_only_our_models(InMemorySaver()),
            "redis": trust_only_our_models(redis_backed),
        }


async def bench_checkpoint(url: str, runs: int) -> list[Result]:
    """Per-superstep time with each saver; the Redis − in-memory difference per run."""
    results = {
        name: Result("checkpoint", f"superstep, {name}", "ms")
        for name in ("none", "in-memory", "redis")
    }
    extra = Result(
        "checkpoint",
        "Redis − in-memory per superstep",
        "ms",
        anchor=SUPERSTEP_TARGET,
        key="checkpoint.extra",
    )
    overlapped = Result("checkpoint", "superstep, redis, durability=async", "ms")
    async with _savers(url) as savers:
        for name, saver in savers.items():  # warm-up: imports, indices, connections
            await _per_run(saver, f"warm-{name}")
        for i in range(runs):
            per_run = {}
            for name, saver in savers.items():
                per_run[name] = await _per_run(saver, f"bench-{name}-{i}") * 1000
                results[name].samples.append(per_run[name])
            extra.samples.append(per_run["redis"] - per_run["in-memory"])
            # LangGraph's default: the checkpoint is written while the next step runs.
            lazy = await _per_run(savers["redis"], f"bench-async-{i}", "async") * 1000
            overlapped.samples.append(lazy)
    return [*results.values(), overlapped, extra]


async def bench_state_size(url: str) -> list[Result]:
    """Bytes of the final checkpoint in Redis (what each superstep writes, roughly)."""
    import redis.asyncio

    async with _savers(url) as savers:
        await _per_run(savers["redis"], "size")
    client = redis.asyncio.Redis.from_url(url)
    try:
        sizes = []
        async for key in client.scan_iter(match="checkpoint:size:*"):
            if await client.type(key) == b"ReJSON-RL":
                sizes.append(len(await client.execute_command("JSON.GET", key)))
    finally:
        await client.aclose()
    return [
        Result(
            "checkpoint", "checkpoint document (JSON), largest", "bytes", [max(sizes, default=0)]
        )
    ]


async def bench_resume(url: str, runs: int) -> list[Result]:
    """Load a checkpoint with two finished branches and finish the run."""
    out = []
    async with _savers(url) as savers:
        for name in ("in-memory", "redis"):
            result = Result("resume", f"resume after a failed branch, {name}", "ms")
            for i in range(runs):
                app = build_demo_shaped_graph().compile(checkpointer=savers[name])
                config: Any = {"configurable": {"thread_id": f"resume-{name}-{i}"}}
                _Fail.task_id = "site-3"
                with suppress(RuntimeError):
                    await app.ainvoke(INPUT, config, durability="sync")
                started = time.perf_counter()
                final = await app.ainvoke(None, config, durability="sync")
                result.samples.append((time.perf_counter() - started) * 1000)
                assert len(final["findings"]) == SITES  # a benchmark that resumed wrongly is void
            out.append(result)
    return out


# A vocabulary like real findings': a few thousand words, some far more common than others.
VOCABULARY = [*WORDS, *(f"term{i}" for i in range(3000))]
WEIGHTS = [1 / (rank + 1) for rank in range(len(VOCABULARY))]


def _insights(n: int, *, dense: bool) -> list[Insight]:
    """`n` insights; dense: every one made of the same 24 words (each query matches them all)."""
    rng = random.Random(7)

    def words(k: int) -> str:
        if dense:
            return " ".join(rng.choices(WORDS, k=k))
        return " ".join(rng.choices(VOCABULARY, weights=WEIGHTS, k=k))

    return [
        Insight(
            claim=f"{words(8)} is ${rng.randint(1, 99)}.{rng.randint(0, 99):02d}/mo",
            value=f"${rng.randint(1, 99)}",
            source_url=f"https://vendor{i % 50}.example/pricing",
            thread_id=f"run-{i % 200}",
            question=words(6),
        )
        for i in range(n)
    ]


async def bench_recall(url: str, n: int, queries: int, *, dense: bool) -> list[Result]:
    """`recall` latency over `n` insights in one namespace, random 3-word questions."""
    namespace = "dense" if dense else "diverse"
    kind = "every insight matches" if dense else "diverse words"
    async with redis_store(url) as store:
        batch = [
            PutOp(("insights", namespace), insight_key(i), i.model_dump(mode="json"), index=False)
            for i in _insights(n, dense=dense)
        ]
        for start in range(0, len(batch), 500):
            await store.abatch(batch[start : start + 500])
        rng = random.Random(11)
        pool = WORDS if dense else VOCABULARY[:300]
        latency = Result("recall", f"recall, {n:,} insights, {kind}", "ms", anchor=RECALL_TARGET)
        empty = Result("recall", f"list newest, {n:,} insights", "ms")
        hits = 0
        for _ in range(queries):
            question = f"What is the {' '.join(rng.sample(pool, 3))} of each vendor?"
            started = time.perf_counter()
            hits += bool(await recall(store, namespace, question, limit=5))
            latency.samples.append((time.perf_counter() - started) * 1000)
        assert hits > queries // 2, "recall mostly found nothing: the benchmark is void"
        for _ in range(max(5, queries // 10)):
            started = time.perf_counter()
            await recall(store, namespace, "", limit=20)
            empty.samples.append((time.perf_counter() - started) * 1000)
    return [latency, empty] if not dense else [latency]


async def run(*, quick: bool = False) -> list[Result]:
    """Every memory benchmark, on a private embedded Redis."""
    with (
        tempfile.TemporaryDirectory(prefix="flotilla-membench-") as tmp,
        EmbeddedRedis(Path(tmp)) as server,
    ):
        results = await bench_checkpoint(server.url, runs=10 if quick else 40)
        results += await bench_state_size(server.url)
        results += await bench_resume(server.url, runs=5 if quick else 20)
        queries = 50 if quick else 200
        results += await bench_recall(server.url, n=10_000, queries=queries, dense=False)
        results += await bench_recall(server.url, n=10_000, queries=queries, dense=True)
    return results


def main() -> None:
    """Print the table (and write JSON when asked)."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()
    # The resume bench's failing branch is stored as an error the strict serde will not revive;
    # LangGraph logs that at WARNING on every resume, which is noise here.
    logging.getLogger("langgraph").setLevel(logging.ERROR)
    results = asyncio.run(run(quick=args.quick))
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in results], indent=2))


if __name__ == "__main__":
    main()
