"""Charts, highlights and the markdown table of a comparison.

It runs INSIDE the code-interpreter sandbox, shipped into the work dir beside
``analysis_runtime.py`` (the entry module), so it imports only the standard library, pandas,
numpy, matplotlib and its sibling modules, never the Flotilla project.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pandas as pd
from analysis_tables import (
    PRICE_METRIC,
    PRICE_PER_GB_METRIC,
    STORAGE_METRIC,
    add_price_per_gb,
    slug,
)
from matplotlib.figure import Figure
from matplotlib.patches import Patch

MARKDOWN_MAX_ROWS = 40


# --------------------------------------------------------------------------- charts

_TITLES = {
    PRICE_METRIC: "Monthly price",
    "price_usd": "Price (no billing period stated)",
    PRICE_PER_GB_METRIC: "Price per GB-month",
    STORAGE_METRIC: "Included storage",
    # A data volume per period is an allowance (transfer, egress, downloads), not storage.
    "storage_gb_per_month": "Monthly data allowance",
    "duration_s": "Duration",
    "percent": "Percentage",
}


def metric_title(metric: str) -> str:
    """A human title for a metric key ("price_usd_month" -> "Monthly price")."""
    base, _, column = metric.partition("__")
    title = _TITLES.get(base) or base.replace("_", " ").capitalize()
    return f"{title} ({column.replace('_', ' ')})" if column else title


def format_value(value: float) -> str:
    """Short human number: 1,099.5 / 4.99 / 0.00499."""
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.1f}".removesuffix(".0")
    if abs(value) >= 1 or value == 0:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def draw_charts(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One horizontal bar chart per metric, ``<out_dir>/charts/<metric>.png``.

    Bars are items sorted by value and coloured by site; the axis names the normalised
    unit. A "price per GB" chart is drawn too when some item has both price and storage.
    """
    df = add_price_per_gb(df)
    charts_dir = Path(out_dir) / "charts"
    charts_dir.mkdir(parents=True, exist_ok=True)
    sites = sorted(df["site"].unique().tolist()) if not df.empty else []
    palette = [
        "#4C72B0",
        "#DD8452",
        "#55A868",
        "#C44E52",
        "#8172B3",
        "#937860",
        "#DA8BC3",
        "#8C8C8C",
        "#CCB974",
        "#64B5CD",
    ]
    colours = {site: palette[i % len(palette)] for i, site in enumerate(sites)}
    paths: list[Path] = []
    for metric in list(dict.fromkeys(df["metric"].tolist())):
        sub = df[(df["metric"] == metric) & df["value"].notna()].sort_values("value", kind="stable")
        if sub.empty:
            continue
        path = charts_dir / f"{slug(metric) if '__' not in metric else metric}.png"
        _bar_chart(sub, metric, colours, path)
        paths.append(path)
    return paths


def _bar_chart(sub: pd.DataFrame, metric: str, colours: dict[str, str], path: Path) -> None:
    """Draw and save one metric's bar chart (Agg canvas, no pyplot state to leak)."""
    items = [str(i) for i in sub["item"].tolist()]
    sites = [str(s) for s in sub["site"].tolist()]
    values = [float(v) for v in sub["value"].tolist()]
    unique = len(set(items)) == len(items)
    labels = items if unique else [f"{i} ({s})" for i, s in zip(items, sites, strict=True)]
    unit = str(sub["unit"].iloc[0])
    fig = Figure(figsize=(8, max(3.0, 0.45 * len(items) + 1.6)), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.barh(range(len(items)), values, color=[colours[s] for s in sites])
    ax.set_yticks(range(len(items)), labels)
    ax.bar_label(bars, labels=[format_value(v) for v in values], padding=3, fontsize=8)
    ax.set_xlabel(unit)
    ax.margins(x=0.15)
    headers = ", ".join(dict.fromkeys(str(h) for h in sub["label"].tolist()))
    ax.set_title(f"{metric_title(metric)} [{unit}]\ncolumns: {headers}", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    present = list(dict.fromkeys(sites))
    ax.legend(
        handles=[Patch(color=colours[s], label=s) for s in present],
        title="site",
        fontsize=8,
        loc="lower right",
    )
    with warnings.catch_warnings():
        # A missing glyph (e.g. CJK plan names) should not fail the analysis.
        warnings.filterwarnings("ignore", message=r"Glyph .* missing", category=UserWarning)
        fig.savefig(path, dpi=100)
    fig.clear()


# --------------------------------------------------------------------------- highlights

_EXTREMES = {
    PRICE_METRIC: ("Cheapest monthly price", "Most expensive monthly price", "the cheapest"),
    "price_usd": ("Lowest price", "Highest price", "the lowest"),
    PRICE_PER_GB_METRIC: ("Best price per GB", "Worst price per GB", "the best"),
}


def highlights(df: pd.DataFrame) -> list[str]:
    """Short computed comparisons: lowest and highest value per metric, with site and raw."""
    lines: list[str] = []
    if df.empty:
        return lines
    for metric in list(dict.fromkeys(df["metric"].tolist())):
        sub = df[(df["metric"] == metric) & df["value"].notna()].reset_index(drop=True)
        if sub.empty:
            continue
        lo = cast(dict[str, Any], sub.loc[int(sub["value"].idxmin())].to_dict())
        hi = cast(dict[str, Any], sub.loc[int(sub["value"].idxmax())].to_dict())
        title = metric_title(metric)
        low, high, ref = _EXTREMES.get(metric, (f"Lowest {title}", f"Highest {title}", "lowest"))
        if metric == STORAGE_METRIC:
            low, high, ref = "Least storage", "Most storage", "the least"
        if len(sub) == 1:
            lines.append(f"{title}: {_describe(lo)} (only one value)")
            continue
        lines.append(f"{low}: {_describe(lo)}{_ties(sub, lo)}")
        if metric == PRICE_PER_GB_METRIC and lo["value"] == 0 and (sub["value"] > 0).any():
            paid = sub[sub["value"] > 0].reset_index(drop=True)
            best = cast(dict[str, Any], paid.loc[int(paid["value"].idxmin())].to_dict())
            lines.append(f"Best paid price per GB: {_describe(best)}{_ties(paid, best)}")
        ratio = f" — {hi['value'] / lo['value']:.1f}× {ref}" if lo["value"] > 0 else ""
        lines.append(f"{high}: {_describe(hi)}{ratio}{_ties(sub, hi)}")
    return lines


def _ties(sub: pd.DataFrame, row: Mapping[str, Any]) -> str:
    """Note, e.g. " (tied with 1 more)", when other rows share `row`'s value."""
    n = int((sub["value"] == row["value"]).sum()) - 1
    return f" (tied with {n} more)" if n > 0 else ""


def _describe(row: Mapping[str, Any]) -> str:
    """Describe a row: "Basic at Nimbus Vault — $4.99/mo (4.99 USD/month)"."""
    return (
        f"{row['item']} at {row['site']} — {row['raw']} "
        f"({format_value(float(row['value']))} {row['unit']})"
    )


def comparison_markdown(df: pd.DataFrame, max_rows: int = MARKDOWN_MAX_ROWS) -> str:
    """A markdown table of the comparison (site | item | metric | value | raw), capped."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| site | item | metric | value | raw |", "|---|---|---|---|---|"]
    for row in df.head(max_rows).to_dict(orient="records"):
        value = f"{format_value(float(row['value']))} {row['unit']}".strip()
        lines.append(
            f"| {cell(row['site'])} | {cell(row['item'])} | {cell(row['metric'])} "
            f"| {cell(value)} | {cell(row['raw'])} |"
        )
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows} more rows in comparison.csv_")
    return "\n".join(lines)
