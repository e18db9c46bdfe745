"""Sandboxes started at once: N code-interpreter sessions per tier, N jailed browsers.

``.venv/bin/python -m bench.starts [--repeats N]``

Code interpreter: N sessions opened at the same moment, each with the analyst's preload
(pandas + pyplot; gVisor restores them from its snapshot), each running ``print(1)``; the figure
is the wall from the start to the last first result. Browsers: N jailed Chromiums launched at
once, each loading a demo page and closing (Playwright driver already up, as in a run).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from bench.browser_jail import one_browser
from bench.report import Result, markdown
from bench.startup import PRELOAD, _cold_print
from demo_sites.server import DemoSites
from sandbox.browser import playwright_driver
from sandbox.tier_choice import available_tiers

NS = (1, 4, 8)


async def _at_once(n: int, start: object) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(start() for _ in range(n)))  # type: ignore[operator]
    return time.perf_counter() - started


def _ratios(kind: str, walls: dict[int, Result]) -> list[Result]:
    base = walls[NS[0]].median()
    out = []
    for n, wall in walls.items():
        if n == NS[0]:
            continue
        ratio = Result("starts", f"{kind}: N={n} at once / N={NS[0]}", "×", key=f"{wall.key}_ratio")
        ratio.samples = [s / base for s in wall.samples]
        out.append(ratio)
    return out


async def sandbox_starts(repeats: int) -> list[Result]:
    """N code sessions per tier at once, start → every first result."""
    logging.getLogger("sandbox.interpreter").setLevel(logging.ERROR)
    out: list[Result] = []
    for tier in await asyncio.to_thread(available_tiers):
        await _cold_print(tier, PRELOAD)  # warm: the snapshot exists, files are cached
        how = "restored from its snapshot" if tier == "gvisor" else "started"
        walls = {}
        for n in NS:
            wall = Result("starts", f"{tier}: {n} sessions {how} at once → all first results",
                          "s", key=f"starts.{tier}.n{n}", anchor="pandas + pyplot preloaded")  # fmt: skip
            for _ in range(repeats):
                wall.samples.append(await _at_once(n, lambda t=tier: _cold_print(t, PRELOAD)))
            walls[n] = wall
        out += [*walls.values(), *_ratios(tier, walls)]
    return out


async def browser_starts(repeats: int) -> list[Result]:
    """N jailed browsers at once: launch → first page → closed."""
    walls = {}
    with DemoSites() as sites:
        url, allow = next(iter(sites.urls.values())), sites.allow_hosts
        async with playwright_driver():
            await one_browser(url, allow)  # warm
            for n in NS:
                wall = Result("starts", f"{n} jailed browsers at once → first page → closed",
                              "s", key=f"starts.browser.n{n}")  # fmt: skip
                for _ in range(repeats):
                    wall.samples.append(await _at_once(n, lambda: one_browser(url, allow)))
                walls[n] = wall
    return [*walls.values(), *_ratios("jailed browsers", walls)]


async def starts(repeats: int) -> list[Result]:
    """Both benches."""
    return [*await sandbox_starts(repeats), *await browser_starts(repeats)]


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    from sandbox.optins import trust_this_process

    parser = argparse.ArgumentParser(prog="python -m bench.starts", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    trust_this_process()
    print(markdown(asyncio.run(starts(args.repeats))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
