"""What the browser jail and the egress proxy cost: ready time, first page, parallel browsers.

Run ``python -m bench.browser_jail [--repeats N]``. Numbers, not assertions. Each figure is
measured with the jail (bubblewrap namespaces + egress proxy) and without it
(``FLOTILLA_BROWSER_JAIL=0``: same Chromium binary, same proxy), on the same machine in one run,
so the difference is the jail's cost. The Playwright driver is started once and kept, as in a
real run, so "ready" is what one subagent pays for its own browser.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import time

from bench.envvars import scoped_env
from bench.report import Result, markdown
from demo_sites.server import DemoSites
from sandbox.browser import browser_sandbox, chromium_executable, playwright_driver
from sandbox.egress import EgressPolicy
from sandbox.jail import JAIL_ENV, bwrap_argv, plan, real_chromium

TARGET = "issue target: browser sandbox ready ≤ 0.5 s"
FIRECRACKER = "anchor: Firecracker boots in ≤ 125 ms"
MODES = {"jail": "1", "no jail": "0"}
PAGE_TIMEOUT_MS = 15_000


async def one_browser(url: str, allow: list[str]) -> tuple[float, float, float]:
    """(sandbox ready, launch → first page rendered, close) in seconds for one subagent."""
    policy = EgressPolicy.for_sites([url], allow)
    started = time.perf_counter()
    async with browser_sandbox(policy) as session:
        ready = time.perf_counter() - started
        await session.page.goto(url, wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_MS)
        first_page = time.perf_counter() - started
        closing = time.perf_counter()
    return ready, first_page, time.perf_counter() - closing


def bare_jail(repeats: int) -> Result:
    """The jail alone: bwrap with Chromium's binds around /bin/true (no browser)."""
    result = Result("browser_jail", "bwrap jail alone (start → exit of /bin/true)", "s")
    bwrap, binary = shutil.which("bwrap"), real_chromium(chromium_executable())
    if bwrap is None or binary is None:
        result.anchor = "bwrap or Chromium missing"
        return result
    # The jail the browser gets here, as the jail's own plan decides it.
    jail = plan(chromium_executable())
    if jail.mode == "none":
        result.anchor = f"no browser jail: {jail.reason}"
        return result
    argv = [*bwrap_argv(bwrap, binary, netns=jail.mode == "bwrap+netns")[:-1], "/bin/true"]
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, check=True)
        result.samples.append(time.perf_counter() - started)
    result.anchor = FIRECRACKER
    return result


async def browser_jail(repeats: int = 8, fleet: tuple[int, ...] = (1, 2, 4)) -> list[Result]:
    """Ready / first page / close per mode, then N browsers at once per mode."""
    results = [await asyncio.to_thread(bare_jail, repeats)]
    with DemoSites() as sites:
        url = next(iter(sites.urls.values()))
        async with playwright_driver():
            for mode, value in MODES.items():
                with scoped_env(**{JAIL_ENV: value}):
                    await one_browser(url, sites.allow_hosts)  # warm the page cache
                    results += await _series(mode, url, sites.allow_hosts, repeats)
            for n in fleet:
                for mode, value in MODES.items():
                    with scoped_env(**{JAIL_ENV: value}):
                        results.append(await _fleet(mode, n, url, sites.allow_hosts, repeats))
    return results


async def _series(mode: str, url: str, allow: list[str], repeats: int) -> list[Result]:
    key = "browser.ready_warm" if mode == "jail" else "browser.ready_unjailed"
    ready = Result("browser_jail", f"{mode}: sandbox ready", "s", anchor=TARGET, key=key)
    first = Result("browser_jail", f"{mode}: launch → first page", "s")
    close = Result("browser_jail", f"{mode}: close (all processes gone)", "s")
    for _ in range(repeats):
        r, f, c = await one_browser(url, allow)
        ready.samples.append(r)
        first.samples.append(f)
        close.samples.append(c)
    if mode == "no jail":
        for result in (ready, first):
            result.anchor = "anchor: the unisolated process"
    return [ready, first, close]


async def _fleet(mode: str, n: int, url: str, allow: list[str], repeats: int) -> Result:
    result = Result(
        "browser_jail", f"{mode}: {n} browsers at once, wall (start → first page → closed)", "s"
    )
    for _ in range(max(2, repeats // 2)):
        started = time.perf_counter()
        await asyncio.gather(*(one_browser(url, allow) for _ in range(n)))
        result.samples.append(time.perf_counter() - started)
    return result


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.browser_jail", description=__doc__)
    parser.add_argument("--repeats", type=int, default=8, help="samples per figure")
    args = parser.parse_args(argv)
    print(markdown(asyncio.run(browser_jail(repeats=args.repeats))))


if __name__ == "__main__":
    main()
