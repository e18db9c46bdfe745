"""`make bench`: every benchmark, its results file, its plots and its table (never an assertion).

.venv/bin/python -m bench.run [--quick] [--out PATH] [--only NAME[,NAME]]

Writes ``bench/results/latest.json`` (``--quick``: ``bench/results/quick/latest.json``;
``--only``: ``bench/results/partial/latest.json``; so a quick look or a few benchmarks never
replace the figures the README is made from) and the PNG plots beside it, and
prints the table. ``make bench-readme`` (`bench.readme_table`) then rewrites the README's table
from that file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.demo_bench import DemoRuns
from bench.report import Result, markdown
from bench.results import LATEST, PARTIAL, gather_facts, payload, write
from bench.results import QUICK as QUICK_PATH
from sandbox.optins import trust_this_process

BENCHES = (
    "fanout",
    "context",
    "demo_wall",
    "starts",
    "browser_jail",
    "sandbox",
    "warm_pool",
    "redis",
    "memory",
    "recall_meaning",
    "state_bytes",
    "checkpoint",
    "llm",
    "browser_ready",
    "subagent",
)
DEFAULT = BENCHES[:-2]
"""What `make bench` runs: `browser_ready` and `subagent` repeat what `starts`, `browser_jail`
and `fanout` measure, so they run only when named (``--only``)."""


@dataclass(frozen=True)
class Repeats:
    """How often each benchmark repeats its measurement."""

    demo_subprocess: int
    demo_in_process: int
    browser: int
    subagent: int
    sandbox: int
    redis: int
    fanout: int
    starts: int


FULL = Repeats(demo_subprocess=3, demo_in_process=2, browser=4, subagent=3, sandbox=3, redis=5,
               fanout=2, starts=2)  # fmt: skip
QUICK = Repeats(demo_subprocess=1, demo_in_process=1, browser=2, subagent=1, sandbox=2, redis=3,
                fanout=1, starts=1)  # fmt: skip


@dataclass
class Session:
    """Results gathered so far, and the in-process demo runs shared by three benchmarks."""

    repeats: Repeats
    results: list[Result] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    demo: DemoRuns | None = None

    def graph_runs(self) -> list[Any]:
        """In-process demo runs (made once, used by `demo_wall`, `state_bytes`, `checkpoint`)."""
        if self.demo is None:
            self.demo = DemoRuns(self.repeats.demo_in_process, self.details)
        return self.demo.get()


def bench_fanout(s: Session) -> list[Result]:
    """Browse phase over 1, 2, 4, 8 sites: own jailed Chromium each vs one shared."""
    from bench.fanout import fanout

    results, details = asyncio.run(fanout(repeats=s.repeats.fanout))
    s.details["fanout"] = details
    return results


def bench_context(s: Session) -> list[Result]:
    """Tokens: coordinator's context vs what the subagents read vs a monolithic agent."""
    from bench.context_bench import context_isolation

    return asyncio.run(context_isolation(s.details.setdefault("context", {})))


def bench_demo_wall(s: Session) -> list[Result]:
    """The demo as a user runs it, per tier with phases, and the graph's share of it."""
    from bench.demo_bench import demo_tiers, in_process
    from sandbox.tier_choice import available_tiers

    tiers = available_tiers()
    out = demo_tiers(s.repeats.demo_subprocess, tiers, s.details)
    return out + in_process(s.graph_runs())


def bench_state_bytes(s: Session) -> list[Result]:
    """How big the checkpointed final state is, next to what the run wrote to disk."""
    from bench.demo_bench import state_bytes

    return state_bytes(s.graph_runs())


def bench_checkpoint(s: Session) -> list[Result]:
    """Checkpoint cost per superstep on the demo's real state: Redis vs in-memory."""
    from bench.demo_bench import checkpoint

    return checkpoint(s.graph_runs())


def bench_starts(s: Session) -> list[Result]:
    """1, 4, 8 code sessions per tier and jailed browsers started at once."""
    from bench.starts import starts

    return asyncio.run(starts(s.repeats.starts))


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


def bench_recall_meaning(s: Session) -> list[Result]:
    """Recall by meaning (local MiniLM) over 10,000 insights with vectors."""
    from bench.recall_bench import recall_by_meaning

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
    "fanout": bench_fanout,
    "context": bench_context,
    "demo_wall": bench_demo_wall,
    "starts": bench_starts,
    "browser_ready": bench_browser_ready,
    "subagent": bench_subagent,
    "browser_jail": bench_browser_jail,
    "sandbox": bench_sandbox,
    "warm_pool": bench_warm_pool,
    "redis": bench_redis,
    "memory": bench_memory,
    "recall_meaning": bench_recall_meaning,
    "state_bytes": bench_state_bytes,
    "checkpoint": bench_checkpoint,
    "llm": bench_llm,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a few minutes)")
    parser.add_argument(
        "--out", "--json", metavar="PATH", type=Path, help="results file (default: see above)"
    )
    parser.add_argument(
        "--only", metavar="NAME[,NAME]", help=f"run only these: {', '.join(BENCHES)}"
    )
    parser.add_argument("--no-plots", action="store_true", help="write no PNG plots")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in (args.only or ",".join(DEFAULT)).split(",") if n.strip()]
    unknown = [n for n in chosen if n not in BENCHES]
    if unknown or not chosen:
        parser.error(f"unknown benchmark(s) {unknown!r}; choose from {', '.join(BENCHES)}")
    args.chosen = chosen
    args.out = args.out or default_out(quick=args.quick, only=bool(args.only))
    return args


def default_out(*, quick: bool, only: bool) -> Path:
    """Where a run writes unless told: only a whole, full run replaces `latest.json`."""
    if quick:
        return QUICK_PATH
    return PARTIAL if only else LATEST


def command_line(argv: list[str] | None) -> str:
    """How this run was started, as the README names it."""
    given = sys.argv[1:] if argv is None else argv
    if not given and os.environ.get("MAKELEVEL"):
        return "make bench"
    return " ".join(["python -m bench.run", *given])


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; write the results file and plots; print the table."""
    trust_this_process()  # run by the operator, like the CLI: demo sites on loopback
    args = parse_args(argv)
    facts = gather_facts()
    load = " ".join(f"{x:.2f}" for x in facts["machine"]["loadavg_start"])
    print(f"flotilla bench — {facts['machine']['cores']} cores, commit {facts['commit']} "
          f"({facts['tree']} tree), load {load}", flush=True)  # fmt: skip
    session = Session(repeats=QUICK if args.quick else FULL)
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
        _save(args, command_line(argv), facts, timings, session, plots=False)  # kept if cut short
    total = time.perf_counter() - started
    print()
    print(markdown(session.results))
    spent = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
    load = " ".join(f"{x:.2f}" for x in facts["machine"]["loadavg_end"])
    mode = "quick" if args.quick else "full"
    print(f"\n{mode} run: {total:.0f} s in all ({spent}); load at end {load}", flush=True)
    data = _save(args, command_line(argv), facts, timings, session, plots=not args.no_plots)
    print(f"results: {args.out}; plots: {', '.join(data.get('plots') or []) or 'none'}")
    return 0


def _save(
    args: argparse.Namespace,
    command: str,
    facts: dict[str, Any],
    timings: dict[str, float],
    session: Session,
    *,
    plots: bool,
) -> dict[str, Any]:
    """Write the results file as it stands now (and the plots, at the end)."""
    facts["machine"]["loadavg_end"] = list(os.getloadavg())
    mode = "quick" if args.quick else "full"
    data = payload(command=command, mode=mode, facts=facts, seconds=timings,
                   results=session.results, details=session.details)  # fmt: skip
    if plots:
        from bench.plots import draw

        data["plots"] = draw(data, args.out.parent)
    write(data, args.out)
    return data


if __name__ == "__main__":
    sys.exit(main())
