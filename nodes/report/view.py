"""What a report shows, gathered once from the state for both templates (markdown and HTML).

The view holds plain values: page-derived text stays raw here and is escaped by the template
that prints it (`nodes/report/render.py`). Links are only ever made to `allowed`, the run's
own sources.
"""

from __future__ import annotations

import base64
import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from graph.models import Analysis, ArtifactRef, Findings, ModelUsage, TableRef
from nodes.report.timeline import Timeline

TABLE_PREVIEW_ROWS = 8
TABLE_PREVIEW_COLS = 8
CELL_CHARS = 120
FACTS_PER_SITE = 6
# Charts embedded into report.html beyond this size are linked instead.
EMBED_MAX_BYTES = 8 * 1024 * 1024
_EMBEDDABLE = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")


@dataclass(frozen=True)
class Chart:
    """A chart: its title, its path relative to the report, and its bytes as a data: URI."""

    title: str
    rel: str
    data_uri: str = ""


@dataclass(frozen=True)
class TableView:
    """A table a subagent read: caption, file, size and its first rows."""

    caption: str
    rel: str
    n_rows: int
    columns: list[str]
    preview: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True)
class SiteCard:
    """One subagent's site: what it read, found, spent and how it was isolated."""

    task_id: str
    title: str
    url: str
    status: str
    pages: list[str]
    elapsed_s: float
    jail: str
    summary: str
    facts: list[tuple[str, str]]
    tables: list[TableView]
    screenshots: list[tuple[str, str]]
    earlier_goal: str = ""
    model: str = ""
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Comparison:
    """The analyst's comparison table split into cells, or its raw text if it is not a table."""

    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: str = ""


@dataclass(frozen=True)
class UsageRow:
    """Model calls and tokens of one node (or the run's total)."""

    node: str
    models: list[str]
    calls: int
    input_tokens: int
    output_tokens: int


@dataclass
class ReportView:
    """Everything both report formats show."""

    question: str
    thread_id: str
    brain: str
    tier: str
    stamp: str
    answer: list[str]
    allowed: frozenset[str]
    comparison: Comparison
    charts: list[Chart]
    sites: list[SiteCard]
    recalled: list[str]
    sources: list[str]
    failures: list[str]
    roles: list[tuple[str, str]]
    usage: list[UsageRow]
    total: UsageRow | None
    no_model_calls: bool
    timeline: Timeline
    cost: dict[str, Any] | None = None  # nodes/report/cost.py's estimate


def rel_url(path: str, base: Path) -> str:
    """`path` relative to the folder `base`, as a URL path (percent-encoded)."""
    try:
        rel = os.path.relpath(path, base)
    except ValueError:
        rel = path
    return quote(rel.replace(os.sep, "/"), safe="/._-~")


def allowed_links(findings: list[Findings]) -> frozenset[str]:
    """The URLs a report may link: the planned sites, the pages read, the facts' pages."""
    urls: set[str] = set()
    for finding in findings:
        urls.add(finding.site)
        urls.update(finding.pages_visited)
        urls.update(f.source_url for f in finding.key_facts)
    return frozenset(u for u in urls if u)


def comparison(markdown: str) -> Comparison:
    """The analyst's markdown table as cells; notes are the lines after it."""
    lines = [line.strip() for line in markdown.strip().splitlines()]
    table = [line for line in lines if line.startswith("|")]
    if len(table) < 2 or not set(table[1].replace("|", "").strip()) <= set("-: "):
        return Comparison(raw=markdown.strip())
    cells = [_cells(line) for line in table]
    notes = [line.strip("_ ") for line in lines if line and not line.startswith("|")]
    return Comparison(header=cells[0], rows=cells[2:], notes=notes)


def _cells(line: str) -> list[str]:
    out, cur, escaped = [], [], False
    for ch in line.strip().strip("|") if line.strip() != "|" else "":
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "|":
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def chart(ref: ArtifactRef, base: Path, *, embed: bool) -> Chart:
    """A chart with its title from the file name, embedded when `embed` and it can be."""
    title = Path(ref.path).stem.replace("_", " ")
    data = ""
    path = Path(ref.path)
    if embed and ref.media_type in _EMBEDDABLE and path.is_file():
        raw = path.read_bytes()
        if len(raw) <= EMBED_MAX_BYTES:
            data = f"data:{ref.media_type};base64,{base64.b64encode(raw).decode()}"
    return Chart(title=title, rel=rel_url(ref.path, base), data_uri=data)


def table_view(table: TableRef, base: Path, *, preview: bool) -> TableView:
    """A table's caption and size, with its first rows when `preview`."""
    rows: list[list[str]] = []
    path = Path(table.artifact.path)
    if preview and path.is_file():
        try:
            with path.open(newline="", encoding="utf-8", errors="replace") as fh:
                for n, row in enumerate(csv.reader(fh)):
                    if n > TABLE_PREVIEW_ROWS:
                        break
                    rows.append([c[:CELL_CHARS] for c in row[:TABLE_PREVIEW_COLS]])
        except (OSError, csv.Error):
            rows = []
    return TableView(
        caption=table.caption or "table",
        rel=rel_url(table.artifact.path, base),
        n_rows=table.n_rows,
        columns=list(table.columns),
        preview=rows,
    )


def site_card(
    finding: Findings,
    base: Path,
    *,
    question: str,
    usage: list[ModelUsage],
    detail: bool,
) -> SiteCard:
    """One finding as a card; `detail` adds table previews (the HTML report)."""
    mine = [u for u in usage if u.node == "browser" and u.task_id == finding.task_id]
    goal = finding.goal.strip()
    return SiteCard(
        task_id=finding.task_id,
        title=finding.site_name or finding.site,
        url=finding.site,
        status=finding.status,
        pages=list(finding.pages_visited),
        elapsed_s=finding.elapsed_s,
        jail=finding.browser_jail or "unknown",
        summary=finding.summary,
        facts=[(f.text, f.source_url) for f in finding.key_facts[:FACTS_PER_SITE]],
        tables=[table_view(t, base, preview=detail) for t in finding.tables],
        screenshots=[(Path(s.path).name, rel_url(s.path, base)) for s in finding.screenshots],
        # A thread continued with a new question keeps the findings of its earlier questions.
        earlier_goal=goal if goal != question else "",
        model=finding.model,
        calls=sum(u.calls for u in mine),
        input_tokens=sum(u.input_tokens for u in mine),
        output_tokens=sum(u.output_tokens for u in mine),
    )


def charts(analysis: Analysis, base: Path, *, embed: bool) -> list[Chart]:
    """The analysis's charts, in its order."""
    return [chart(c, base, embed=embed) for c in analysis.charts]
