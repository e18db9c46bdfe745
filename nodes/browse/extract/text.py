"""A page's main text: chrome stripped, trafilatura first, a density heuristic last."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import trafilatura
from lxml.html import HtmlElement

from nodes.browse.extract.dom import WS, block_text, is_layout_table, parse_html, strip_boilerplate


def main_text(html: str, url: str) -> str:
    """Main content of a rendered page as plain text ("" when there is none).

    Chrome is stripped first, then trafilatura extracts with precision favoured (no comments,
    no tables). Precision mode often keeps one card of a grid of ``div``s, so when it holds
    well under what the cleaned page shows, trafilatura's balanced mode is tried, and a
    readability-like heuristic over the cleaned DOM is the last resort.
    """
    root = parse_html(html)
    if root is None:
        return ""
    strip_boilerplate(root)
    for table in list(root.iter("table")):
        if not is_layout_table(table):
            table.drop_tree()  # tables are delivered by extract_tables, not as prose
    fallback = _heuristic_text(root)
    for precise, share in ((True, 0.5), (False, 0.3)):
        text = _trafilatura_text(copy.deepcopy(root), url, precise=precise)
        if text and len(text) >= share * len(fallback):
            return text
    return fallback


def _trafilatura_text(root: HtmlElement, url: str, *, precise: bool) -> str:
    """Run trafilatura on a cleaned tree; "" when it finds no main content."""
    result = trafilatura.extract(
        root,
        url=url or None,
        favor_precision=precise,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        with_metadata=False,
        deduplicate=False,
    )
    return (result or "").strip()


def _heuristic_text(root: HtmlElement) -> str:
    """Readability-like fallback: text of the explicit main region or the densest container."""
    body = root.find("body")
    scope = body if body is not None else root
    marked = scope.xpath(".//main | .//*[@role='main'] | .//article")
    if marked:
        best = max(marked, key=lambda el: len(el.text_content()))
    else:
        best = max(_candidates(scope), key=_density_score, default=scope)
    return block_text(best)


def _candidates(scope: HtmlElement) -> Iterator[HtmlElement]:
    """Containers that could hold the main content."""
    yield scope
    yield from scope.iter("div", "section", "td")


def _density_score(el: HtmlElement) -> float:
    """Text length discounted by link density, with a nudge towards tighter containers."""
    text = len(WS.sub(" ", el.text_content()).strip())
    if text == 0:
        return 0.0
    links = sum(len(a.text_content()) for a in el.iter("a"))
    depth = sum(1 for _ in el.iterancestors())
    return text * (1.0 - links / text) * (1.0 + 0.01 * depth)
