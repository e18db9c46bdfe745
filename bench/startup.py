"""Start-up costs: browser sandboxes, code-interpreter sessions and the embedded Redis."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.envvars import scoped_env
from bench.report import Result
from demo_sites.server import DemoSites
from memory.redis_server import EmbeddedRedis
from nodes.browse.pages import settle
from sandbox.browser import browser_sandbox, playwright_driver
from sandbox.egress import EgressPolicy
from sandbox.interpreter import open_session
from sandbox.tier_choice import available_tiers

BROWSER_TARGET = "issue target: browser sandbox ready ≤ 0.5 s"
FIRECRACKER = "anchor: Firecracker boots in ≤ 125 ms"
PRELOAD = ("pandas", "matplotlib.pyplot")
PAGE_TIMEOUT_MS = 15_000


@dataclass
class FirstPage:
    """When one subagent's sandbox was ready and its first page rendered, from its start."""

    ready_s: float
    first_page_s: float


async def _ready_and_first_page(url: str, allow_hosts: list[str]) -> FirstPage:
    started = time.perf_counter()
    policy = EgressPolicy.for_sites([url], allow_hosts)
    async with browser_sandbox(policy) as session:
        ready = time.perf_counter() - started
        session.page.set_default_timeout(PAGE_TIMEOUT_MS)
        await session.page.goto(url, wait_until="domcontentloaded")
        await settle(session.page)
        return FirstPage(ready_s=ready, first_page_s=time.perf_counter() - started)


async def _parallel(urls: list[str], allow_hosts: list[str]) -> tuple[float, float]:
    """(wall until every sandbox was ready, wall until every first page rendered)."""
    started = time.perf_counter()
    done = await asyncio.gather(*(_ready_and_first_page(u, allow_hosts) for u in urls))
    wall = time.perf_counter() - started
    return max(d.ready_s for d in done), wall


async def _ready_with_warm_driver(url: str, allow_hosts: list[str], repeats: int) -> list[float]:
    # Holding the driver open separates Chromium's launch from the Node.js driver's start.
    samples = []
    async with playwright_driver():
        for _ in range(repeats):
            started = time.perf_counter()
            async with browser_sandbox(EgressPolicy.for_sites([url], allow_hosts)):
                samples.append(time.perf_counter() - started)
    return samples


async def browser_ready(*, repeats: int, fleet: tuple[int, ...] = (1, 2, 4)) -> list[Result]:
    """Sandbox ready and first page rendered, alone and for N subagents at once."""
    with DemoSites() as sites:
        urls, hosts = list(sites.urls.values()), sites.allow_hosts
        await _ready_and_first_page(urls[0], hosts)  # warm the disk cache; not counted
        ready = Result("browser_ready", "sandbox ready, 1 subagent (cold driver)", "s")
        first = Result("browser_ready", "launch → first page rendered, 1 subagent", "s")
        for _ in range(repeats):
            one = await _ready_and_first_page(urls[0], hosts)
            ready.samples.append(one.ready_s)
            first.samples.append(one.first_page_s)
        ready.anchor = BROWSER_TARGET
        warm = Result("browser_ready", "sandbox ready, 1 subagent (driver already up)", "s")
        warm.samples = await _ready_with_warm_driver(urls[0], hosts, repeats)
        warm.anchor = BROWSER_TARGET
        results = [ready, warm, first]
        base: float | None = None
        for n in fleet:
            targets = [urls[i % len(urls)] for i in range(n)]
            all_ready = Result("browser_ready", f"N={n} parallel: all sandboxes ready", "s")
            all_first = Result("browser_ready", f"N={n} parallel: all ready + first page", "s")
            for _ in range(repeats):
                r, w = await _parallel(targets, hosts)
                all_ready.samples.append(r)
                all_first.samples.append(w)
            base = base or all_first.median()
            all_first.anchor = f"{all_first.median() / base:.2f}× N=1 (ideal 1.00×)"
            results += [all_ready, all_first]
    return results


async def _cold_print(tier: str, preload: tuple[str, ...]) -> float:
    started = time.perf_counter()
    async with open_session(tier, preload=preload) as session:
        result = await session.execute("print(1)")
        elapsed = time.perf_counter() - started
    if result.stdout.strip() != "1":
        msg = f"sandbox tier {tier!r} answered {result.stdout!r} / {result.error_message!r}"
        raise RuntimeError(msg)
    return elapsed


async def sandbox(*, repeats: int) -> list[Result]:
    """Code-interpreter cold start to the first `print(1)`, per tier, with and without preload."""
    probe_started = time.perf_counter()
    tiers = [*await asyncio.to_thread(available_tiers), "none"]
    probe = Result("sandbox", "tier probe (cached after the first in a process)", "s")
    probe.samples = [time.perf_counter() - probe_started]
    probe.anchor = f"tiers here: {', '.join(tiers)}"
    # Tier 'none' warns loudly on every session; the benchmark asks for it on purpose.
    logging.getLogger("sandbox.interpreter").setLevel(logging.ERROR)
    results = [probe]
    medians: dict[tuple[str, bool], float] = {}
    for tier in tiers:
        for preload in ((), PRELOAD):
            label = "+ pandas, pyplot" if preload else "bare"
            how = ", restored from a snapshot" if tier == "gvisor" and preload else ""
            r = Result("sandbox", f"{tier}: cold start → print(1), {label}{how}", "s")
            r.samples = [await _cold_print(tier, preload) for _ in range(repeats)]
            medians[tier, bool(preload)] = r.median()
            r.anchor = "" if preload else FIRECRACKER
            results.append(r)
    ratios = {tier: medians[tier, True] for tier in tiers[:-1]}
    if "gvisor" in tiers:
        results += await _gvisor_snapshots(repeats)
        ratios["gvisor, booted (snapshots off)"] = results[-1].median()
    for name, median in ratios.items():
        ratio = Result("sandbox", f"{name}/none, + pandas, pyplot (median ratio)", "×")
        ratio.samples = [median / medians["none", True]]
        ratio.anchor = "issue target ≤ 1.5×"
        results.append(ratio)
    return results


async def _gvisor_snapshots(repeats: int) -> list[Result]:
    """What the preloaded gVisor rows above owe to snapshots.

    The one-time image build, and the same start booted and importing through the sentry instead
    (last row).
    """
    first = Result(
        "sandbox", "gvisor: first session, empty image store (boot, checkpoint, restore)", "s"
    )
    first.anchor = "once per layout (runsc, Python, packages, preload)"
    for _ in range(max(1, repeats // 3)):
        with tempfile.TemporaryDirectory() as store, scoped_env(FLOTILLA_SNAPSHOT_DIR=store):
            first.samples.append(await _cold_print("gvisor", PRELOAD))
    booted = Result("sandbox", "gvisor: cold start → print(1), + pandas, pyplot, booted", "s")
    booted.anchor = "FLOTILLA_GVISOR_SNAPSHOTS=0"
    with scoped_env(FLOTILLA_GVISOR_SNAPSHOTS="0"):
        booted.samples = [await _cold_print("gvisor", PRELOAD) for _ in range(repeats)]
    return [first, booted]


def redis_cycle(*, repeats: int) -> list[Result]:
    """Embedded Redis start → PING answered, and stop, in a fresh data folder each time."""
    start = Result("redis", "embedded start → PING (JSON + Search modules)", "s", key="redis.start")
    stop = Result("redis", "stop", "s")
    with tempfile.TemporaryDirectory(prefix="flotilla-bench-redis-") as tmp:
        for i in range(repeats):
            started = time.perf_counter()
            server = EmbeddedRedis(Path(tmp) / f"r{i}").start()
            try:
                client = redis.Redis.from_url(server.url)
                try:
                    client.ping()
                finally:
                    client.close()
                start.samples.append(time.perf_counter() - started)
            finally:
                stopping = time.perf_counter()
                server.stop()
                stop.samples.append(time.perf_counter() - stopping)
    return [start, stop]
