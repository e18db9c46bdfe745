"""Fan-out scaling: the browse phase over 1, 2, 4 and 8 sites, own browsers against a shared one.

``.venv/bin/python -m bench.fanout [--repeats N] [--ns 1,2,4,8]``

Each site (`bench.fanout_sites`) has 4 JavaScript-rendered pages served with 0.3 s latency per
request. N subagents — the offline brain, each on its own site — run at once:

- **own**: each in its own jailed Chromium (`sandbox.browser.browser_sandbox`), as a run does;
- **shared**: one jailed Chromium for all, an isolated browser context each (own cookies,
  cache, storage and egress route gate; one process tree, one proxy allowing every site);
- **sequential**: the same N tasks one after another, own Chromium each (the first N of one
  sequential pass over all sites);
- **one tab**: N = 1, own Chromium, the subagent reading its pages one at a time (``tabs=1``)
  instead of the links it chose at once in parallel tabs (`nodes.browse.offline.MAX_TABS`).

Per N and mode: browse wall (first launch → last findings), its ratio to N = 1, the speed-up
over sequential, peak RSS of one browser tree and of the whole process tree, CPU seconds of the
whole tree. The Playwright driver is up before timing starts (a run shares one).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fanout_sites import PAGES, write_sites
from bench.proctree import MIB, TreeSampler
from bench.report import Result, markdown
from demo_sites.demo import DEMO_QUESTION
from demo_sites.server import DemoSites
from graph.context import Context
from graph.models import Findings, SiteTask
from nodes.browse.offline import MAX_TABS, OfflineBrain
from nodes.browse.pages import Collected
from sandbox.browser import (
    BrowserSession,
    browser_sandbox,
    gated_session,  # one browser, a gated context per subagent
    playwright_driver,
)
from sandbox.egress import EgressPolicy

LATENCY_S = 0.3
NS = (1, 2, 4, 8)
FLOOR_S = len(PAGES) * LATENCY_S
"""One subagent's sequential network floor: its pages one after another, one request each."""
TARGETS = {4: "target ≤ 1.3×", 8: "target ≤ 2.0×"}

SessionFactory = Callable[[SiteTask], AbstractAsyncContextManager[BrowserSession]]


@dataclass
class Pass:
    """One timed pass: N subagents in one mode."""

    wall_s: float
    cpu_s: float
    tree_rss: int
    browser_rss: int
    pages: list[int]
    task_s: list[float]


def _quiet(step: str, fields: dict[str, object]) -> None:
    """Progress goes nowhere: only time is taken."""


async def browse_one(
    task: SiteTask,
    ctx: Context,
    open_session: SessionFactory,
    artifacts: Path,
    tabs: int = MAX_TABS,
) -> tuple[Findings, float]:
    """One subagent with the offline brain (reading `tabs` pages at once) in `open_session`'s.

    Returns its findings and its time from asking for a session to findings built.
    """
    brain = OfflineBrain(task, ctx, _quiet, tabs=tabs)
    collected, started = Collected(), time.perf_counter()
    async with open_session(task) as session:
        session.page.set_default_timeout(ctx.page_timeout_s * 1000)
        await brain.browse(session, collected)
    elapsed = time.perf_counter() - started
    findings = await asyncio.to_thread(
        brain.findings, collected, artifacts=artifacts / task.task_id, elapsed_s=elapsed
    )
    return findings, time.perf_counter() - started


def own_browser(allow: list[str]) -> SessionFactory:
    """Each subagent launches its own jailed Chromium."""

    def factory(task: SiteTask) -> AbstractAsyncContextManager[BrowserSession]:
        return browser_sandbox(EgressPolicy.for_sites([task.url], allow))

    return factory


def shared_context(shared: BrowserSession, allow: list[str]) -> SessionFactory:
    """Each subagent gets a new context (own gate for its site) in one shared browser."""
    browser = shared.context.browser
    assert browser is not None

    @asynccontextmanager
    async def factory(task: SiteTask) -> AsyncIterator[BrowserSession]:
        policy = EgressPolicy.for_sites([task.url], allow)
        session = await gated_session(browser, policy)
        try:
            yield session
        finally:
            await session.context.close()

    return factory


async def _run(mode: str, tasks: list[SiteTask], ctx: Context, allow: list[str], tmp: Path) -> Pass:
    with TreeSampler(interval_s=0.2) as sampler:
        started = time.perf_counter()
        if mode == "shared":
            union = EgressPolicy.for_sites([t.url for t in tasks], allow)
            async with browser_sandbox(union) as shared:
                factory = shared_context(shared, allow)
                done = await asyncio.gather(*(browse_one(t, ctx, factory, tmp) for t in tasks))
        elif mode == "own":
            factory = own_browser(allow)
            done = await asyncio.gather(*(browse_one(t, ctx, factory, tmp) for t in tasks))
        elif mode == "one-tab":
            factory = own_browser(allow)
            done = [await browse_one(t, ctx, factory, tmp, tabs=1) for t in tasks]
        else:  # sequential
            factory = own_browser(allow)
            done = [await browse_one(t, ctx, factory, tmp) for t in tasks]
        wall = time.perf_counter() - started
    bad = [f for f, _ in done if f.status != "ok"]
    if bad:
        msg = f"{mode}: subagent {bad[0].task_id} ended {bad[0].status!r}: {bad[0].errors[:1]}"
        raise RuntimeError(msg)
    return Pass(
        wall_s=wall,
        cpu_s=sampler.cpu_s,
        tree_rss=sampler.peak_tree_rss,
        browser_rss=sampler.peak_browser_rss,
        pages=[len(f.pages_visited) for f, _ in done],
        task_s=[s for _, s in done],
    )


def _r(metric: str, unit: str, key: str, anchor: str = "") -> Result:
    return Result("fanout", metric, unit, anchor=anchor, key=key)


async def fanout(*, repeats: int = 2, ns: tuple[int, ...] = NS) -> tuple[list[Result], dict]:
    """Every N in `ns`, own and shared, `repeats` times; one sequential pass over max(ns)."""
    details: dict[str, Any] = {"latency_s": LATENCY_S, "pages_per_site": len(PAGES), "runs": []}
    with tempfile.TemporaryDirectory(prefix="flotilla-bench-fanout-") as name:
        tmp = Path(name)
        write_sites(tmp / "sites", max(ns))
        with DemoSites(latency_s=LATENCY_S, sites_dir=tmp / "sites") as sites:
            ctx = Context(brain="offline", runs_dir=str(tmp / "runs"))
            ctx.allow_hosts = [*ctx.allow_hosts, *sites.allow_hosts]
            tasks = [
                SiteTask(task_id=f"site-{i + 1}", url=url, goal=DEMO_QUESTION)
                for i, url in enumerate(sites.urls.values())
            ]
            async with playwright_driver():
                # Warm-up (disk cache, driver): one subagent, not counted.
                await _run("own", tasks[:1], ctx, sites.allow_hosts, tmp / "artifacts")
                passes: dict[tuple[str, int], list[Pass]] = {}
                sequential: list[Pass] = []
                for _ in range(repeats):
                    for n in ns:
                        for mode in ("own", "shared"):
                            one = await _run(mode, tasks[:n], ctx, sites.allow_hosts, tmp / "a")
                            passes.setdefault((mode, n), []).append(one)
                            details["runs"].append({"mode": mode, "n": n, **vars(one)})
                one_tab = await _run("one-tab", tasks[:1], ctx, sites.allow_hosts, tmp / "a")
                passes.setdefault(("one-tab", 1), []).append(one_tab)
                details["runs"].append({"mode": "one-tab", "n": 1, **vars(one_tab)})
                seq = await _run("sequential", tasks[: max(ns)], ctx, sites.allow_hosts, tmp)
                sequential.append(seq)
                details["runs"].append({"mode": "sequential", "n": max(ns), **vars(seq)})
    return _results(passes, sequential, ns), details


def _results(
    passes: dict[tuple[str, int], list[Pass]], sequential: list[Pass], ns: tuple[int, ...]
) -> list[Result]:
    out: list[Result] = []
    seq_task_s = sequential[0].task_s
    for mode in ("own", "shared"):
        base = [p.wall_s for p in passes[mode, ns[0]]]
        base_p50 = sorted(base)[len(base) // 2]
        for n in ns:
            runs = passes[mode, n]
            label = "own jailed Chromium each" if mode == "own" else "one shared Chromium"
            wall = _r(f"{label}: N={n} browse wall", "s", f"fanout.{mode}.wall.n{n}")
            wall.samples = [p.wall_s for p in runs]
            wall.anchor = f"pages read per subagent: {sorted({x for p in runs for x in p.pages})}"
            ratio = _r(f"{label}: N={n} wall / N=1 wall (p50)", "×", f"fanout.{mode}.ratio.n{n}")
            ratio.samples = [p.wall_s / base_p50 for p in runs]
            ratio.anchor = TARGETS.get(n, "") if mode == "own" else ""
            speed = _r(
                f"{label}: N={n} sequential wall / parallel wall",
                "×",
                f"fanout.{mode}.speedup.n{n}",
            )
            speed.samples = [sum(seq_task_s[:n]) / p.wall_s for p in runs]
            speed.anchor = f"sequential: {sum(seq_task_s[:n]):.1f} s (own Chromium each)"
            rss = _r(f"{label}: N={n} peak RSS, largest browser tree", "MiB",
                     f"fanout.{mode}.browser_rss.n{n}")  # fmt: skip
            rss.samples = [p.browser_rss / MIB for p in runs]
            tree = _r(f"{label}: N={n} peak RSS, whole process tree", "MiB",
                      f"fanout.{mode}.run_rss.n{n}")  # fmt: skip
            tree.samples = [p.tree_rss / MIB for p in runs]
            tree.anchor = "RSS summed over processes (shared pages counted per process)"
            cpu = _r(f"{label}: N={n} CPU seconds, whole tree", "s", f"fanout.{mode}.cpu.n{n}")
            cpu.samples = [p.cpu_s for p in runs]
            out += [wall, ratio, speed, rss, tree, cpu]
    for n in ns:
        price = _r(f"N={n}: own wall / shared wall (price of isolation)", "×",
                   f"fanout.isolation_price.n{n}")  # fmt: skip
        pairs = zip(passes["own", n], passes["shared", n], strict=True)
        price.samples = [own.wall_s / shared.wall_s for own, shared in pairs]
        out.append(price)
    floor = _r(f"one subagent (N=1, own) / network floor {FLOOR_S:.1f} s", "×",
               "fanout.one_vs_floor", "target ≤ 1.6×")  # fmt: skip
    floor.samples = [p.wall_s / FLOOR_S for p in passes["own", ns[0]]]
    floor.anchor = f"target ≤ 1.6×; pages read in up to {MAX_TABS} tabs at once"
    one_tab = _r(f"one subagent reading one page at a time / network floor {FLOOR_S:.1f} s", "×",
                 "fanout.one_tab_vs_floor", "tabs=1: the same pages, one after another")  # fmt: skip
    one_tab.samples = [p.wall_s / FLOOR_S for p in passes["one-tab", 1]]
    out += [floor, one_tab]
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the fan-out table."""
    from sandbox.optins import trust_this_process

    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ns", default=",".join(map(str, NS)))
    args = parser.parse_args(argv)
    trust_this_process()
    ns = tuple(int(x) for x in args.ns.split(","))
    results, _ = asyncio.run(fanout(repeats=args.repeats, ns=ns))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
