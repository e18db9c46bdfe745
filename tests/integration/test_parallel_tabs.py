"""The offline brain reads the links it chose in parallel tabs of its own browser.

Real Chromium, a real local site (`tests/sites/tabbed_store`: a consent layer, pages rendered
from a JSON island, tables, a paginated price history, chrome and dead links). Reading in tabs
must find what reading one page after another finds, never hold more than its bound of tabs
open, and close every tab, also when one of them fails or times out.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from playwright.async_api import Page

from graph.context import Context
from graph.models import Findings, SiteTask
from nodes.browse.offline import OfflineBrain, explore
from nodes.browse.pages import Collected
from nodes.browse.subagent import run_subagent
from sandbox.browser import BrowserSession, browser_sandbox
from sandbox.egress import EgressPolicy

pytestmark = pytest.mark.slow

GOAL = "Compare the monthly price and storage of the plans"


async def browse(url: str, host: str, root: Path, *, tabs: int, **limits) -> Findings:
    ctx = Context(allow_hosts=[host], runs_dir=str(root), **limits)
    task = SiteTask(task_id="site-1", url=url, goal=GOAL)
    brain = OfflineBrain(task, ctx, lambda *_: None, tabs=tabs)
    return await run_subagent(
        task, ctx, artifacts_root=str(root), thread_id="t", progress=lambda *_: None, brain=brain
    )


def comparable(findings: Findings, root: Path) -> tuple[dict, list[str]]:
    """Findings without their timing, measured usage and folder, and the tables' contents."""
    dump = json.loads(
        findings.model_dump_json(exclude={"elapsed_s", "sandbox"}).replace(str(root), "<runs>")
    )
    return dump, [Path(t.artifact.path).read_text() for t in findings.tables]


async def test_tabs_read_the_same_pages_and_find_the_same_as_one_page_at_a_time(
    site_server, tmp_path
):
    site = site_server("tabbed_store")
    sequential = await browse(site.url, site.host, tmp_path / "one", tabs=1, max_pages=8)
    parallel = await browse(site.url, site.host, tmp_path / "four", tabs=4, max_pages=8)
    assert sequential.status == "ok" and sequential.errors == []
    # The pages worth reading, chrome (blog, log-in, careers, privacy) left alone.
    assert {p.removeprefix(site.url) for p in sequential.pages_visited} >= {
        "",
        "plans/",
        "storage/",
        "compare/",
    }
    assert not any("blog" in p or "login" in p for p in sequential.pages_visited)
    assert any("$11.50 per month" in f.text for f in sequential.key_facts)  # rendered cards
    assert comparable(parallel, tmp_path / "four") == comparable(sequential, tmp_path / "one")


@pytest.mark.parametrize("max_pages", [2, 3, 5])
async def test_max_pages_is_exact_with_tabs(site_server, tmp_path, max_pages):
    site = site_server("tabbed_store")
    sequential = await browse(site.url, site.host, tmp_path / "a", tabs=1, max_pages=max_pages)
    parallel = await browse(site.url, site.host, tmp_path / "b", tabs=4, max_pages=max_pages)
    assert len(parallel.pages_visited) == max_pages
    assert parallel.pages_visited == sequential.pages_visited


class TabCounter:
    """Counts the pages open in a session's context at once, by the browser's own events."""

    def __init__(self, session: BrowserSession) -> None:
        self.open = len(session.context.pages)
        self.most = self.open
        session.context.on("page", self._opened)

    def _opened(self, page: Page) -> None:
        self.open += 1
        self.most = max(self.most, self.open)
        page.on("close", self._closed)

    def _closed(self, _: Page) -> None:
        self.open -= 1


async def explore_site(
    url: str, host: str, *, tabs: int, max_pages: int, page_timeout_s: float = 30.0
) -> tuple[Collected, TabCounter, BrowserSession]:
    collected = Collected()
    task = SiteTask(task_id="site-1", url=url, goal=GOAL)
    async with browser_sandbox(EgressPolicy.for_sites([url], [host])) as session:
        counter = TabCounter(session)
        session.page.set_default_timeout(page_timeout_s * 1000)
        await explore(
            session,
            task,
            max_pages=max_pages,
            collected=collected,
            progress=lambda *_: None,
            tabs=tabs,
            page_timeout_s=page_timeout_s,
        )
        assert session.context.pages == [session.page]  # every tab closed
        assert session.tabs == []
    return collected, counter, session


@pytest.mark.parametrize("tabs", [2, 3])
async def test_never_more_tabs_open_than_the_bound(site_server, tabs):
    site = site_server("tabbed_store", latency_s=0.5)  # each tab open long enough to count
    collected, counter, session = await explore_site(site.url, site.host, tabs=tabs, max_pages=8)
    assert len(collected.pages) == 5  # every page worth reading (the price history's two: one)
    assert counter.most == tabs  # the bound was reached, never passed
    assert counter.open == 1
    # The subagent's own tabs are not pop-ups: none was closed as one.
    assert not [r for r in session.refused if r.rule == "popup"]


async def test_tabs_close_after_an_error_or_a_timeout_in_one_of_them(site_server):
    site = site_server("tabbed_store")
    started = time.monotonic()
    collected, counter, _ = await explore_site(
        site.url + "faulty.html", site.host, tabs=4, max_pages=5, page_timeout_s=3.0
    )
    assert time.monotonic() - started < 20  # the hanging tab was given up at its timeout
    read = [p.removeprefix(site.url) for p in collected.pages]
    # The start page, then the good two of the four links read at once, in queue order (the
    # pages linked from those come after, in the next round).
    assert read[:3] == ["faulty.html", "plans/", "storage/"]
    kinds = {error.where.removeprefix(site.url): error.kind for error in collected.errors}
    assert kinds == {"price-list-2019/": "http_error", "hang": "timeout"}
    assert counter.most <= 4 and counter.open == 1
