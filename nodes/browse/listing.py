"""Lists of items a page shows: their records, their in-place "load more", their next page.

Both brains' page reading keeps a page's tables (`nodes.browse.pages`); this reads the items a
page lists in repeated blocks or schema.org data as records (`extract.records`,
`extract.structured_data`), clicks a list's in-place "next" or "load more" control, folds the
records into those already collected (a list's pages, a page's cards and its JSON-LD: one table
of one row per item) and finds the link to the list's next page. No site-specific knowledge.
"""

from __future__ import annotations

import asyncio

from playwright.async_api import Page

from nodes.browse.extract.controls import NEXT_PAGE
from nodes.browse.extract.records import RecordTable, covered_by, extract_records, fold_records
from nodes.browse.extract.structured_data import structured_records
from nodes.browse.pages import MAX_TABLE_PAGES, Collected, click_text, settle
from nodes.urls import page_identity

NEXT_LINKS_JS = """els => els.map(e => {
  const r = e.getBoundingClientRect(), s = getComputedStyle(e);
  const shown = e.tagName === 'LINK'
    || (r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none');
  const rel = (e.getAttribute('rel') || '').toLowerCase().split(/\\s+/).includes('next');
  const text = (e.innerText || e.getAttribute('aria-label') || '').trim();
  return shown && e.getAttribute('aria-disabled') !== 'true' ? [e.href, text, rel] : null;
}).filter(Boolean)"""


async def read_listing(page: Page, collected: Collected) -> str | None:
    """Keep the records of the page just read; return its list's next page, if it has one.

    The next page counts only for a page that lists something (records or a table), so a
    blog's "next post" link is not a list's next page.
    """
    records = await read_records(page)
    add_records(collected, page.url, records)
    listed = bool(records) or any(url == page.url for url, _ in collected.tables)
    return await next_page_url(page) if listed else None


def page_records(html: str, url: str) -> list[RecordTable]:
    """Records from the page's repeated blocks and its schema.org data, merged by item."""
    tables: list[RecordTable] = []
    for table in [*extract_records(html), *structured_records(html, url)]:
        if fold_records(tables, table) == len(tables):
            tables.append(table)
    return tables


async def next_page_url(page: Page) -> str | None:
    """Where the page's "next page" link leads (rel=next or its words), if to another page."""
    here = page_identity(page.url)
    found: list[list[object]] = await page.locator("a[href], link[rel~=next]").evaluate_all(
        NEXT_LINKS_JS
    )
    for href, text, rel in found:
        wanted = rel or NEXT_PAGE.fullmatch(str(text))
        if wanted and str(href).startswith("http") and page_identity(str(href)) != here:
            return str(href)
    return None


async def read_records(page: Page) -> list[RecordTable]:
    """Records of the page, clicking a list's in-place "next" or "load more" control."""
    records = await asyncio.to_thread(page_records, await page.content(), page.url)
    tried = 0  # "next" controls that added nothing (a slideshow's "›"): passed over after
    for _ in range(MAX_TABLE_PAGES):
        if not records or await next_page_url(page) is not None:
            break  # a link to another page: the caller reads it as a page of its own
        if await click_text(page, NEXT_PAGE, skip=tried) is None:
            break
        await settle(page)
        more = await asyncio.to_thread(page_records, await page.content(), page.url)
        merged = list(records)
        for table in more:
            if fold_records(merged, table) == len(merged):
                merged.append(table)
        if merged == records:
            tried += 1
        records = merged
    return records


def add_records(collected: Collected, url: str, records: list[RecordTable]) -> None:
    """Fold a page's records into those already collected: a list's pages make one table."""
    page_tables = [t for u, t in collected.tables if u == url and not isinstance(t, RecordTable)]
    for table in records:
        if covered_by(table, page_tables):
            continue  # the page's own table lists these items already
        slots = [i for i, (_, t) in enumerate(collected.tables) if isinstance(t, RecordTable)]
        known = [t for _, t in collected.tables if isinstance(t, RecordTable)]
        index = fold_records(known, table)
        if index is None:
            continue
        if index == len(known):
            collected.tables.append((url, table))
        else:
            source, _ = collected.tables[slots[index]]
            collected.tables[slots[index]] = (source, known[index])
