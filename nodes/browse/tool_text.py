"""What the llm browser's tools say: their descriptions, and page text and errors as a model sees them.

Page-derived text passes `as_data` (no tag-shaped fragment, bounded, fenced as untrusted); a
tool's failure is one `ToolMessage` line; a table is previewed in a few rows.
"""

from __future__ import annotations

import json
import re

from langchain_core.messages import ToolMessage
from pydantic import ValidationError

from nodes.browse.extract.tables import PageTable
from nodes.llm.fence import fence

PREVIEW_ROWS = 3

# Anything shaped like an HTML tag, comment or doctype: removed before text reaches a model.
_MARKUP = re.compile(r"<!--.*?-->|<!?/?[A-Za-z][^<>]*>", re.DOTALL)


def strip_markup(text: str) -> str:
    """`text` with every tag-shaped fragment removed (page text is data, never HTML)."""
    return _MARKUP.sub(" ", text)


def as_data(text: str, *, source: str, limit: int) -> str:
    """Page-derived `text` as the model may see it: no markup, bounded, fenced as untrusted."""
    return fence(strip_markup(text), source=source, limit=limit)


def compact_links(output: str) -> str:
    """A links tool's JSON output as one link per line (as it came when it is not JSON)."""
    try:
        links = json.loads(output)
    except ValueError:
        return output
    return "\n".join(str(link) for link in links if link)


def table_preview(index: int, table: PageTable) -> str:
    """A few rows of a saved table, for the model."""
    lines = [f"Table {index}: {table.caption or '(no caption)'} — {len(table.rows)} rows"]
    lines.append("Columns: " + " | ".join(table.columns))
    lines.extend(" | ".join(row) for row in table.rows[:PREVIEW_ROWS])
    if len(table.rows) > PREVIEW_ROWS:
        lines.append(f"... {len(table.rows) - PREVIEW_ROWS} more rows in the saved table")
    return "\n".join(lines)


def fields_wrong(exc: ValidationError, most: int = 5) -> str:
    """Each argument a validation refused, by its path (`key_facts.0.source_url: Field required`)."""
    said = [f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()]
    return "; ".join(said[:most] + [f"and {len(said) - most} more"] * (len(said) > most))[:1000]


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (its type when it has none), bounded."""
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def failed(call_id: str, name: str, message: str) -> ToolMessage:
    """A tool call's failure as the model reads it."""
    return ToolMessage(content=f"error: {message}", tool_call_id=call_id, name=name, status="error")


NO_PAGE = "No page is loaded yet: call navigate with the start URL first."
NAVIGATE_DOC = (
    "Load a page of the planned site (absolute URL or a link relative to the current page). "
    "Other hosts are refused by the egress policy."
)
READ_TEXT_DOC = "Read the current page's main text (fenced, bounded; tables come separately)."
TABLES_DOC = (
    "Extract the current page's data tables, following a table's 'next page' control, and the "
    "items it lists (product cards, spec lists, schema.org data) as a table of one row per "
    "item. They are saved with your findings; a short preview is returned."
)
TYPE_DOC = "Type text into an input field (CSS selector); optionally press Enter to submit."
SCROLL_DOC = "Scroll the current page down/up one screen, or to its top/bottom."
SCREENSHOT_DOC = "Save a screenshot of the visible page as an artifact; returns its path."
SUBMIT_DOC = (
    "Finish: submit a short summary answering the goal and key facts, each with the URL of the "
    "page you read it on. Call it once, last."
)
