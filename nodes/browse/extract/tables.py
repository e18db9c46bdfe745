"""Data tables of a page, cells verbatim, and the merging of a paginated table's pages."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml.html import HtmlElement

from nodes.browse.extract.dom import (
    WS,
    block_text,
    is_chrome,
    is_hidden,
    is_layout_table,
    parse_html,
    visible_len,
)

if TYPE_CHECKING:
    import pandas


@dataclass
class PageTable:
    """A data table read from a page, cells verbatim (whitespace normalised)."""

    rows: list[list[str]]
    columns: list[str]
    caption: str
    numeric: bool


_PRECEDING_HEADINGS = (
    "preceding::*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::h6]"
)
_MAX_SPAN = 50


def extract_tables(html: str) -> list[PageTable]:
    """Data tables of a page, skipping chrome, layout tables and exact duplicates."""
    root = parse_html(html)
    if root is None:
        return []
    tables: list[PageTable] = []
    seen: set[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = set()
    total = visible_len(root)
    for el in root.iter("table"):
        if is_layout_table(el) or _in_chrome(el, total):
            continue
        table = _read_table(el, total)
        if table is None:
            continue
        key = (tuple(table.columns), tuple(tuple(r) for r in table.rows))
        if key not in seen:
            seen.add(key)
            tables.append(table)
    return tables


def _in_chrome(el: HtmlElement, total: int) -> bool:
    """True when an ancestor is navigation, a footer, a dialog, a form or similar chrome."""
    return any(is_chrome(a, total) or is_hidden(a) for a in el.iterancestors())


def _read_table(el: HtmlElement, total: int) -> PageTable | None:
    """Parse one <table>; None when it is too small to be data (< 2 columns or < 2 rows)."""
    header, body = _header_and_body(el)
    width = max((len(r) for r in [header, *body]), default=0)
    body = [r for r in body if any(r)]
    if width < 2 or len(body) < 2:
        return None
    columns = _column_names(header, width)
    rows = [r + [""] * (width - len(r)) for r in body]
    return PageTable(
        rows=rows, columns=columns, caption=_caption(el, total), numeric=_is_numeric(rows)
    )


def _header_and_body(el: HtmlElement) -> tuple[list[str], list[list[str]]]:
    """Split a table's rows into a header row and data rows."""
    head_rows = el.xpath("./thead/tr")
    rows = el.xpath("./tr | ./tbody/tr | ./tfoot/tr")
    if head_rows:
        return _cells(head_rows[-1]), [_cells(r) for r in rows]
    if not rows:
        return [], []
    return _cells(rows[0]), [_cells(r) for r in rows[1:]]


def _cells(tr: HtmlElement) -> list[str]:
    """Cell texts of a row, repeating a cell across its colspan."""
    out: list[str] = []
    for cell in tr.xpath("./th | ./td"):
        text = WS.sub(" ", block_text(cell)).strip()
        try:
            span = int(cell.get("colspan", "1"))
        except ValueError:
            span = 1
        out.extend([text] * min(max(span, 1), _MAX_SPAN))
    return out


def _column_names(header: list[str], width: int) -> list[str]:
    """Unique, non-empty column names for a header row padded to ``width``."""
    names: list[str] = []
    for i, raw in enumerate(header + [""] * (width - len(header))):
        name = raw or f"column_{i + 1}"
        base, n = name, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def _caption(el: HtmlElement, total: int) -> str:
    """The table's <caption>, aria-label, or the nearest preceding heading outside chrome."""
    caption = el.find("caption")
    if caption is not None and caption.text_content().strip():
        return WS.sub(" ", caption.text_content()).strip()
    if el.get("aria-label"):
        return WS.sub(" ", el.get("aria-label", "")).strip()
    for heading in reversed(el.xpath(_PRECEDING_HEADINGS)):  # nearest first
        if not _in_chrome(heading, total) and heading.text_content().strip():
            return WS.sub(" ", heading.text_content()).strip()
    return ""


def _is_numeric(rows: list[list[str]]) -> bool:
    """True when some column holds numbers in at least half of its non-empty cells."""
    for col in zip(*rows, strict=False):
        filled = [c for c in col if c]
        if filled and sum(bool(re.search(r"\d", c)) for c in filled) * 2 >= len(filled):
            return True
    return False


def table_frame(t: PageTable) -> pandas.DataFrame:
    """The table as a DataFrame whose columns are all strings."""
    import pandas as pd

    return pd.DataFrame(t.rows, columns=t.columns).astype(str)


def merge_tables(a: PageTable, b: PageTable) -> PageTable:
    """Append ``b``'s rows to ``a`` (pagination), dropping rows already present."""
    if a.columns != b.columns:
        msg = f"cannot merge tables with different columns: {a.columns!r} vs {b.columns!r}"
        raise ValueError(msg)
    rows = [list(r) for r in dict.fromkeys(tuple(r) for r in [*a.rows, *b.rows])]
    return PageTable(
        rows=rows,
        columns=list(a.columns),
        caption=a.caption or b.caption,
        numeric=a.numeric or b.numeric,
    )


def merge_paginated(tables: Iterable[PageTable]) -> list[PageTable]:
    """Merge tables that share a header (pages of one table) into one, first-seen order."""
    merged: dict[tuple[str, ...], PageTable] = {}
    for t in tables:
        key = tuple(t.columns)
        merged[key] = merge_tables(merged[key], t) if key in merged else merge_tables(t, t)
    return list(merged.values())
