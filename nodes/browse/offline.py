"""The offline brain's browser policy: read the start page, then goal-relevant same-site links.

No site-specific knowledge: it reads each page with the generic readers of `nodes.browse.pages`
and follows the same-site links whose words match the goal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Error as PlaywrightError

from graph.context import Context
from graph.models import Findings, SiteTask
from nodes.browse.extract.links import rank_links
from nodes.browse.findings import build_findings, refused_findings
from nodes.browse.listing import read_listing
from nodes.browse.pages import Collected, PageFailed, Progress, page_error, read_page
from sandbox.browser import BrowserSession
from sandbox.egress import EgressRefused


@dataclass
class OfflineBrain:
    """The offline brain: read the start page, then the goal-relevant same-site links."""

    task: SiteTask
    ctx: Context
    progress: Progress

    async def browse(self, session: BrowserSession, collected: Collected) -> None:
        """Read the start page, then follow goal-matching links up to `max_pages`."""
        await explore(
            session,
            self.task,
            max_pages=self.ctx.max_pages,
            collected=collected,
            progress=self.progress,
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
) -> None:
    """Read the start page, then the best goal-relevant same-site links, up to `max_pages`."""
    queue: list[str] = [task.url]
    visited: set[str] = set()
    while queue and len(collected.pages) < max_pages:
        url = queue.pop(0)
        visited.add(url.rstrip("/"))
        try:
            links = await read_page(session.page, url, collected)
            following = await read_listing(session.page, collected)  # a list's next page
        except PlaywrightError as exc:
            collected.errors.append(page_error(url, exc, session))
            if session.ended:
                break  # no browser left to read with
            continue
        except PageFailed:
            continue  # an error status: recorded by read_page, nothing of the page kept
        visited.update(p.rstrip("/") for p in collected.pages)
        progress("page", {"url": session.page.url, "pages": len(collected.pages)})
        remaining = max_pages - len(collected.pages)
        ranked = rank_links(
            links, base_url=task.url, goal=task.goal, visited=visited, limit=remaining
        )
        if following and following.rstrip("/") not in visited:  # read before other links
            queue = [following, *(u for u in queue if u != following)]
        queue = _merge_queue(queue, [link.url for link in ranked], limit=remaining)


def _merge_queue(queue: list[str], new: list[str], *, limit: int) -> list[str]:
    merged = list(queue)
    merged.extend(url for url in new if url not in merged)
    return merged[: max(limit, 0)]
