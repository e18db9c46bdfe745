"""Turn scraped vendor tables into a normalised comparison, charts and highlights.

This module runs INSIDE the code-interpreter sandbox: its source is copied there as
``analysis_runtime.py`` next to a small driver script. It must therefore stay
self-contained: it imports only the standard library, pandas, numpy, matplotlib and pint,
never the Flotilla project (the sandbox has no copy of it).

Pipeline (``run``):

1. ``load_manifest`` reads ``manifest.json`` (question, optional FX overrides, tables).
2. ``build_comparison`` reads each CSV (every cell is verbatim page text), finds the label
   column and the numeric columns (``classify_column``), parses cells (``parse_quantity``),
   normalises them (``normalise``: money to USD per month, storage to GB, durations to
   seconds, any other physical unit to its dimension's unit through pint: Wh, km, kg...)
   and returns one long table: site, item, metric, label, value, unit, raw, source_url.
   Columns from different sites join only when their header words name the same thing and
   their dimension agrees (``metric_key``); the question adds ratios ("price per Wh").
3. ``draw_charts`` writes one bar chart per metric with two values or more, ``highlights``
   computes short comparisons in the metric's words, and ``run`` writes
   ``comparison.csv``, ``charts/*.png`` and ``summary.json``.

The work is split over sibling modules shipped with it: ``analysis_units`` (pint),
``analysis_quantities`` (cell parsing and normalising), ``analysis_metrics`` (what a column
names), ``analysis_tables`` (manifest and comparison), ``analysis_ratios`` (derived ratios)
and ``analysis_charts`` (charts, highlights, markdown); their public names are re-exported
here, so ``from analysis_runtime import parse_quantity`` keeps working.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from analysis_charts import (
    MARKDOWN_MAX_ROWS,
    chart_metrics,
    comparison_markdown,
    draw_charts,
    format_value,
    highlights,
    metric_info,
    metric_title,
    site_colours,
)
from analysis_quantities import (
    FX_TO_USD,
    GB_PER_UNIT,
    PER_MONTH,
    SECONDS_PER_UNIT,
    Kind,
    Period,
    Quantity,
    is_placeholder,
    normalise,
    parse_quantity,
)
from analysis_tables import (
    COLUMNS,
    MAJORITY,
    PRICE_METRIC,
    PRICE_PER_GB_METRIC,
    STORAGE_METRIC,
    Manifest,
    TableInput,
    add_price_per_gb,
    build_comparison,
    classify_column,
    load_manifest,
    metric_key,
    read_manifest,
)

__all__ = [
    "COLUMNS",
    "FX_TO_USD",
    "GB_PER_UNIT",
    "MAJORITY",
    "MARKDOWN_MAX_ROWS",
    "PER_MONTH",
    "PRICE_METRIC",
    "PRICE_PER_GB_METRIC",
    "SECONDS_PER_UNIT",
    "STORAGE_METRIC",
    "Kind",
    "Manifest",
    "Period",
    "Quantity",
    "TableInput",
    "add_price_per_gb",
    "build_comparison",
    "classify_column",
    "comparison_markdown",
    "draw_charts",
    "format_value",
    "highlights",
    "is_placeholder",
    "load_manifest",
    "metric_info",
    "metric_key",
    "metric_title",
    "normalise",
    "parse_quantity",
    "read_manifest",
    "run",
    "site_colours",
]

# --------------------------------------------------------------------------- entry point


def run(manifest_path: str, out_dir: str = "out") -> dict[str, Any]:
    """Compare the manifest's tables; write comparison.csv, charts/*.png, summary.json.

    Returns the summary: highlights, comparison_markdown, metrics, warnings, n_rows,
    charts (paths relative to `out_dir`), question and the FX table used; ``metric_info``
    (per metric: title, unit, heading, number of values, chart or null) and
    ``site_colours`` (the colour each site has in every chart).
    """
    started = time.perf_counter()
    manifest = read_manifest(manifest_path)
    fx = {**FX_TO_USD, **(manifest.fx_to_usd or {})}
    notes: list[str] = []
    df = build_comparison(
        manifest.tables, fx_to_usd=fx, warnings_out=notes, question=manifest.question
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "comparison.csv", index=False)
    charts = draw_charts(df, out)
    metrics = list(dict.fromkeys(df["metric"].tolist()))
    charted = dict(zip(chart_metrics(df), charts, strict=True))
    summary: dict[str, Any] = {
        "question": manifest.question,
        "highlights": highlights(df, manifest.question),
        "comparison_markdown": comparison_markdown(df),
        "metrics": metrics,
        "warnings": notes,
        "n_rows": len(df),
        "charts": [p.relative_to(out).as_posix() for p in charts],
        "fx_to_usd": fx,
        "metric_info": [_describe_metric(df, m, charted.get(m), out) for m in metrics],
        "site_colours": site_colours(df),
    }
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    print(
        f"analysis: {len(manifest.tables)} tables -> {len(df)} rows, "
        f"{len(summary['metrics'])} metrics, {len(charts)} charts, {len(notes)} warnings "
        f"in {time.perf_counter() - started:.2f}s (out: {out})"
    )
    return summary


def _describe_metric(df: Any, metric: str, chart: Path | None, out: Path) -> dict[str, Any]:
    """One metric as the summary lists it: names, unit, values, chart (or null)."""
    sub = df[df["metric"] == metric]
    info = metric_info(metric, sub)
    return {
        "metric": metric,
        "title": info.title,
        "unit": info.unit,
        "heading": info.heading,
        "values": len(sub),
        "chart": chart.relative_to(out).as_posix() if chart is not None else None,
    }
