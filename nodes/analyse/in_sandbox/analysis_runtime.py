"""Turn scraped vendor tables into a normalised comparison, charts and highlights.

This module runs INSIDE the code-interpreter sandbox: its source is copied there as
``analysis_runtime.py`` next to a small driver script. It must therefore stay
self-contained: it imports only the standard library, pandas, numpy, matplotlib and pint,
never the Flotilla project (the sandbox has no copy of it).

Pipeline (``run``, and the script generated for each run, which spells out the same calls):

1. ``analysis_plan.profile`` reads ``manifest.json`` (question, optional FX overrides, tables)
   and each CSV (every cell is verbatim page text): it finds the label column and the
   numeric columns (``classify_column``), parses cells (``parse_quantity``), normalises them
   (``normalise``: money to USD per month, storage to GB, durations to seconds, any other
   physical unit to its dimension's unit through pint: Wh, km, kg...). Columns from
   different sites join only when their header words name the same thing and their
   dimension agrees (``metric_key``); the question adds ratios ("price per Wh"). The plan
   it returns names each metric, its unit, its columns, its chart and its highlight words.
2. ``analysis_script.Comparison`` carries the plan out call by call (``apply_plan``): one
   long table (site, item, metric, label, value, unit, raw, source_url), one bar chart per
   metric with two values or more, highlights in the metric's words, and ``finish`` writes
   ``comparison.csv``, ``charts/*.png`` and ``summary.json``.

The work is split over sibling modules shipped with it: ``analysis_units`` (pint),
``analysis_quantities`` (cell parsing and normalising), ``analysis_metrics`` (what a column
names), ``analysis_tables`` (manifest and comparison), ``analysis_ratios`` (derived ratios),
``analysis_charts`` (charts, highlights, markdown), ``analysis_plan`` (the plan) and
``analysis_script`` (the calls a generated script makes); their public names are re-exported
here, so ``from analysis_runtime import parse_quantity`` keeps working.
"""

from __future__ import annotations

from typing import Any

from analysis_charts import (
    MARKDOWN_MAX_ROWS,
    comparison_markdown,
    draw_charts,
    format_value,
    highlights,
    metric_info,
    metric_title,
    site_colours,
)
from analysis_plan import apply_plan, profile
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

    The plan ``profile`` makes of the tables, applied in-process: what the script generated
    for a run from that plan does. Returns the summary: highlights, comparison_markdown,
    metrics, warnings, n_rows, charts (paths relative to `out_dir`), question and the FX table
    used; ``metric_info`` (per metric: title, unit, heading, number of values, chart or null)
    and ``site_colours`` (the colour each site has in every chart).
    """
    return apply_plan(profile(manifest_path)).finish(out_dir)
