"""The offline brain's browser policy: read the start page, then goal-relevant same-site links.

No site-specific knowledge: it reads each page with the generic readers of `nodes.browse.pages`
and follows the same-site links whose words match the goal, several at once in tabs of its own
browser.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from graph.context import Context
from graph.models import Findings, SiteTask
from nodes.browse.extract.links import rank_links
from nodes.browse.extract.records import RecordTable
from nodes.browse.findings import build_findings, refused_findings
from nodes.browse.listing import add_records, next_page_url, read_records
from nodes.browse.pages import Collected, PageFailed, Progress, page_error, read_page
from sandbox.browser import BrowserSession
from sandbox.egress import EgressRefused

MAX_TABS = 4
"""Pages a subagent reads at once (its own page and up to three more tabs of its browser)."""


@dataclass
class OfflineBrain:
    """The offline brain: read the start page, then the goal-relevant same-site links.

    `tabs`: how many pages it reads at once (1: one after another).
    """

    task: SiteTask
    ctx: Context
    progress: Progress
    tabs: int = MAX_TABS

    async def browse(self, session: BrowserSession, collected: Collected) -> None:
        """Read the start page, then follow goal-matching links up to `max_pages`."""
        await explore(
            session,
            self.task,
            max_pages=self.ctx.max_pages,
            collected=collected,
            progress=self.progress,
            tabs=self.tabs,
            page_timeout_s=self.ctx.page_timeout_s,
        )

    def findings(self, collected: Collected, *, artifacts: Path, elapsed_s: float) -> Findings:
        """The Findings built from what was read."""
        return build_findings(self.task, collected, artifacts=artifacts, elapsed_s=elapsed_s)

    def refused(self, refusal: EgressRefused) -> Findings:
        """The Findings of a site the egress policy refused before any page was read."""
        return refused_findings(self.task, refusal)


async def explore(
    session: BrowserSession,
    task: SiteTask,
    *,
    max_pages: int,
    collected: Collected,
    progress: Progress,
    tabs: int = MAX_TABS,
    page_timeout_s: float | None = None,
) -> None:
    """Read the start page, then the best goal-relevant same-site links, up to `max_pages`.

    The links decided on are read up to `tabs` at a time, each in a tab of the session's own
    context (the same egress gates judge every request); what they read is taken in queue
    order, never in the order the tabs finish, so the findings do not depend on timing. A
    list's next page is read in the round after its page: it is known only once that is read.
    """
    queue: list[str] = [task.url]
    visited: set[str] = set()
    while queue and len(collected.pages) < max_pages:
        room = min(max(tabs, 1), max_pages - len(collected.pages))
        batch, queue = queue[:room], queue[room:]
        visited.update(url.rstrip("/") for url in batch)
        for read in await _read_all(session, batch, page_timeout_s):
            read.merge_into(collected)
            if read.links is None:
                continue  # failed: its error is recorded, nothing of the page kept
            visited.update(p.rstrip("/") for p in collected.pages)
            progress("page", {"url": read.landed, "pages": len(collected.pages)})
            remaining = max_pages - len(collected.pages)
            ranked = rank_links(
                read.links, base_url=task.url, goal=task.goal, visited=visited, limit=remaining
            )
            following = read.following
            if following and following.rstrip("/") not in visited:  # read before other links
                queue = [following, *(u for u in queue if u != following)]
            queue = _merge_queue(queue, [link.url for link in ranked], limit=remaining)
        if session.ended:
            break  # the remote browser ended: no browser left to read with


@dataclass
class _Read:
    """One page read on its own: what it yielded, kept apart until it is merged in order."""

    url: str
    collected: Collected = field(default_factory=Collected)
    landed: str = ""
    links: list[tuple[str, str]] | None = None  # None: the page failed
    records: list[RecordTable] = field(default_factory=list)
    following: str | None = None

    def merge_into(self, collected: Collected) -> None:
        """Add this page to `collected` as reading it there directly would have."""
        mine = self.collected
        collected.pages.extend(mine.pages)
        collected.titles.extend(mine.titles)
        collected.site_names.extend(mine.site_names)
        collected.texts.extend(mine.texts)
        collected.tables.extend(mine.tables)
        ended = any(e.kind == "session_ended" for e in collected.errors)
        collected.errors.extend(  # a browser that ended is said once, not once per open tab
            e for e in mine.errors if not (ended and e.kind == "session_ended")
        )
        if self.records:
            add_records(collected, self.landed, self.records)


async def _read_all(
    session: BrowserSession, urls: list[str], page_timeout_s: float | None
) -> list[_Read]:
    """Read `urls` at once: the first in the session's page, each other in a tab of its own."""
    reads = [_Read(url) for url in urls]
    async with asyncio.TaskGroup() as group:  # one failing cancels the rest; tabs still close
        group.create_task(_read(session, session.page, reads[0]))
        for read in reads[1:]:
            group.create_task(_read_in_tab(session, read, page_timeout_s))
    return reads


async def _read_in_tab(session: BrowserSession, read: _Read, page_timeout_s: float | None) -> None:
    async with session.tab() as page:
        if page_timeout_s is not None:
            page.set_default_timeout(page_timeout_s * 1000)
        await _read(session, page, read)


async def _read(session: BrowserSession, page: Page, read: _Read) -> None:
    """Read one page, its list's records and next page into `read`; browser errors recorded."""
    try:
        links = await read_page(page, read.url, read.collected)
        read.landed = page.url
        read.records = await read_records(page)
        listed = bool(read.records) or bool(read.collected.tables)
        read.following = await next_page_url(page) if listed else None
    except PlaywrightError as exc:
        read.collected.errors.append(page_error(read.url, exc, session))
        return  # what was read is kept; its links are not followed
    except PageFailed:
        return  # an error status: recorded by read_page, nothing of the page kept
    read.links = links


def _merge_queue(queue: list[str], new: list[str], *, limit: int) -> list[str]:
    merged = list(queue)
    merged.extend(url for url in new if url not in merged)
    return merged[: max(limit, 0)]
