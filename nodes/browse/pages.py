"""Page reading both brains share: rendering, overlays, paginated tables, browser errors.

No site-specific knowledge: it waits for the page's own work to finish, dismisses overlays by
their button text, pages through tables by their "next" control and reads main content with
trafilatura. The offline brain's `explore` and the llm brain's tools both read pages here.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from graph.models import SubagentError
from nodes.browse.extract.controls import CONSENT_ACCEPT, NEXT_PAGE
from nodes.browse.extract.site_name import declared_site_name
from nodes.browse.extract.soft404 import page_headings, soft_404
from nodes.browse.extract.tables import PageTable, extract_tables, merge_tables
from nodes.browse.extract.text import main_text
from sandbox.browser import BrowserSession
from sandbox.egress import EgressRefused

Progress = Callable[[str, dict[str, object]], None]

CLICKABLE = "button, a, [role=button], input[type=button], input[type=submit]"
VISIBLE_TEXTS_JS = """els => els.map(e => {
  const r = e.getBoundingClientRect(), s = getComputedStyle(e);
  const shown = r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
    && !e.disabled && e.getAttribute('aria-disabled') !== 'true';
  return shown ? (e.innerText || e.value || e.getAttribute('aria-label') || '').trim() : '';
})"""
BUSY_STATE_JS = """() => { const b = window.__flotillaBusy;
  return b ? [b.timers.size, b.net, Date.now() - b.lastMutation] : [0, 0, 100000]; }"""
LINKS_JS = (
    "els => els.map(a => [a.href, (a.innerText || a.getAttribute('aria-label') || '').trim()])"
)
NAVIGATION_STATUS_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  return nav && nav.responseStatus ? nav.responseStatus : 0; }"""
MAX_TABLE_PAGES = 8
MAX_OVERLAY_CLICKS = 3


@dataclass
class Collected:
    """What a subagent has read so far; kept when a later step fails or time runs out."""

    pages: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    site_names: list[str] = field(default_factory=list)  # what pages declare (og:site_name...)
    texts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[tuple[str, PageTable]] = field(default_factory=list)
    errors: list[SubagentError] = field(default_factory=list)
    browser_jail: str = ""


async def settle(page: Page, *, max_s: float = 4.0, quiet_ms: int = 150) -> None:
    """Wait until the page has no short timers or requests pending and the DOM is quiet."""
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        try:
            timers, net, since_mutation = await page.evaluate(BUSY_STATE_JS)
        except PlaywrightError:
            return  # navigated away or closed: nothing left to wait for here
        if timers == 0 and net == 0 and since_mutation >= quiet_ms:
            return
        await asyncio.sleep(0.05)


async def click_text(page: Page, pattern: re.Pattern[str], *, skip: int = 0) -> str | None:
    """Click the first visible control whose whole text matches `pattern`; return that text.

    `skip` passes over that many matching controls first (ones already tried in vain).
    """
    controls = page.locator(CLICKABLE)
    texts: list[str] = await controls.evaluate_all(VISIBLE_TEXTS_JS)
    matching = [i for i, text in enumerate(texts) if text and pattern.fullmatch(text)]
    for index in matching[skip:]:
        try:
            await controls.nth(index).click(timeout=2000)
        except PlaywrightError:
            continue
        return texts[index]
    return None


async def dismiss_overlays(page: Page) -> None:
    """Dismiss consent, newsletter and similar overlays by their buttons' words."""
    for _ in range(MAX_OVERLAY_CLICKS):
        if await click_text(page, CONSENT_ACCEPT) is None:
            return
        await settle(page)


async def read_tables(page: Page) -> list[PageTable]:
    """Tables on the page, following a table's "next page" control to collect every row."""
    tables = await asyncio.to_thread(extract_tables, await page.content())
    for _ in range(MAX_TABLE_PAGES):
        if not tables or await click_text(page, NEXT_PAGE) is None:
            break
        await settle(page)
        more = await asyncio.to_thread(extract_tables, await page.content())
        merged = merge_all(tables, more)
        if merged == tables:
            break
        tables = merged
    return tables


def merge_all(tables: list[PageTable], more: list[PageTable]) -> list[PageTable]:
    """Fold newly seen tables into known ones: same columns → rows appended, else added."""
    result = list(tables)
    for table in more:
        for index, known in enumerate(result):
            if known.columns == table.columns:
                result[index] = merge_tables(known, table)
                break
        else:
            result.append(table)
    return result


class PageFailed(Exception):
    """The server answered a page with an error status; its content is not the site's."""

    def __init__(self, error: SubagentError) -> None:
        """Carry the error that was recorded for the page."""
        super().__init__(error.message)
        self.error = error


def http_error(url: str, status: int, reason: str = "") -> SubagentError | None:
    """The error for a main document answered with a 4xx/5xx status; None for a good answer.

    An error page's title and text describe the failure, not the site, so the caller keeps
    neither: the status code is the finding.
    """
    if status < 400:
        return None
    said = f"{status} {reason}".strip() if reason else str(status)
    side = "the server failed" if status >= 500 else "the page was not served"
    return SubagentError(
        where=url,
        kind="http_error",
        message=f"HTTP {said}: {side}; its content was not read (check the URL or retry later)",
    )


async def open_page(page: Page, url: str) -> SubagentError | None:
    """Load `url` and let it settle with overlays dismissed; the error if it answered 4xx/5xx.

    The status is the main document's final answer (after redirects). An error page is left
    as it is: it is neither waited for nor clicked.
    """
    response = await page.goto(url, wait_until="domcontentloaded")
    failure = http_error(url, response.status, response.status_text) if response else None
    if failure is None:
        await settle(page)
        await dismiss_overlays(page)
    return failure


async def landed_error(page: Page, url: str) -> SubagentError | None:
    """The error for the document `page` shows if it was answered 4xx/5xx or is a soft 404.

    However the page came (a click, history), the browser's navigation timing has its status
    (0, so None, when unknown); a page served as 200 is checked for a soft 404.
    """
    try:
        status = await page.evaluate(NAVIGATION_STATUS_JS)
    except PlaywrightError:
        return None
    failure = http_error(url, status) if isinstance(status, int) else None
    if failure is not None:
        return failure
    try:
        html, title = await page.content(), await page.title()
    except PlaywrightError:
        return None
    text = await asyncio.to_thread(main_text, html, url)
    return await asyncio.to_thread(soft_404_error, url, title, html, text)


def soft_404_error(url: str, title: str, html: str, text: str) -> SubagentError | None:
    """The error for an error page served with status 200 (a soft 404); None for a real page.

    Told by its title or main heading ("Page not found", "404") and thin main content
    `text`; like a 404, nothing of it is kept.
    """
    why = soft_404(title, page_headings(html), text)
    if not why:
        return None
    return SubagentError(
        where=url,
        kind="http_error",
        message=f"soft 404: the page was served as 200 but {why}, with little content; "
        "its content was not read (check the URL)",
    )


async def read_page(page: Page, url: str, collected: Collected) -> list[tuple[str, str]]:
    """Render `url`, record its main text and tables, and return its links.

    A page answered with a 4xx/5xx status is recorded as an error in `collected` and raises
    `PageFailed`: nothing of it (title, text, tables, links) is kept.
    """
    failure = await open_page(page, url)
    if failure is not None:
        collected.errors.append(failure)
        raise PageFailed(failure)
    tables = await read_tables(page)
    html, title = await page.content(), await page.title()
    # Parsing is CPU work: off the event loop, so other subagents' browsers keep being served.
    text = await asyncio.to_thread(main_text, html, page.url)
    failure = await asyncio.to_thread(soft_404_error, url, title, html, text)
    if failure is not None:
        collected.errors.append(failure)
        raise PageFailed(failure)
    collected.pages.append(page.url)
    collected.titles.append(title)
    collected.site_names.append(await asyncio.to_thread(declared_site_name, html))
    collected.texts.append((page.url, text))
    collected.tables.extend((page.url, table) for table in tables)
    links: list[list[str]] = await page.locator("a[href]").evaluate_all(LINKS_JS)
    return [(href, text) for href, text in links]


def page_error(url: str, exc: Exception, session: BrowserSession) -> SubagentError:
    """Turn a browser exception into an error a person can act on."""
    if session.ended:  # the (remote) browser went away: that is the reason, said once
        return SubagentError(where=url, kind="session_ended", message=session.ended)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    refusal = _refusal_behind(text, url, session)
    if refusal is not None:
        return SubagentError(where=url, kind="refused", rule=refusal.rule, message=str(refusal))
    for marker, kind, advice in _ERROR_KINDS:
        if marker in text:
            return SubagentError(where=url, kind=kind, message=f"{advice} ({text})")
    return SubagentError(where=url, kind="browser_error", message=text)


def _refusal_behind(text: str, url: str, session: BrowserSession) -> EgressRefused | None:
    """The refusal that explains a failed load, if the failure was one.

    The route gate fails sub-requests as "blocked by client" and cancels navigations
    ("aborted"); the egress proxy's refusal reaches Chromium as a failed SOCKS connection (as
    does an allowed but dead address); the jailed browser's own policy blocks file: URLs.
    """
    latest = session.last_block
    if "ERR_BLOCKED_BY_ADMINISTRATOR" in text:
        return _browser_policy_refusal(url, session)
    if "ERR_BLOCKED_BY_CLIENT" in text and session.refused:
        return latest or session.refused[-1]
    if "ERR_ABORTED" in text:
        # Only this URL's own refusal explains a cancelled navigation.
        same = latest is not None and latest.url.rstrip("/") == url.rstrip("/")
        return latest if same else None
    return latest if "ERR_SOCKS_CONNECTION_FAILED" in text else None


def _browser_policy_refusal(url: str, session: BrowserSession) -> EgressRefused:
    # Name the egress rule behind the browser's own block (file: → "scheme").
    try:
        session.policy.check(url)
        refusal = EgressRefused(url, "browser_policy", "the browser's policy blocks this URL")
    except EgressRefused as refused:
        refusal = refused
    session.record(refusal)
    return refusal


_ERROR_KINDS = (
    ("Timeout", "timeout", "the page did not load in time; the site may be down or slow"),
    ("ERR_CONNECTION_REFUSED", "unreachable", "nothing answers at this address; check the URL"),
    ("ERR_NAME_NOT_RESOLVED", "dns", "the host name does not resolve; check the URL"),
    ("ERR_CONNECTION", "unreachable", "the connection failed"),
    (
        "ERR_SOCKS_CONNECTION_FAILED",
        "unreachable",
        "nothing answers at this address; check the URL",
    ),
    ("ERR_UNSAFE_PORT", "unsafe_port", "browsers refuse this port; serve the site on another"),
    ("ERR_ABORTED", "aborted", "the page load was aborted (a download or a blocked request)"),
)
