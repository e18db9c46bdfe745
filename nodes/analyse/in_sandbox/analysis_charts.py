"""Charts, highlights and the markdown table of a comparison.

It runs INSIDE the code-interpreter sandbox, shipped into the work dir beside
``analysis_runtime.py`` (the entry module), so it imports only the standard library, pandas,
numpy, matplotlib and its sibling modules, never the Flotilla project.

Every chart explains itself: a title naming the metric and its unit ("Range (km)",
"Monthly price (EUR, GBP → USD/month)"), an axis label with the unit, every bar labelled
with its value, and one colour per site kept across all charts (``site_colours``, also in
the summary for whoever draws more). A metric with fewer than two values gets no chart;
its highlight says so instead.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd
from analysis_metrics import concept_of_key, question_rank
from analysis_quantities import find_currency
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
#: A chart compares: it needs at least this many values of one metric.
MIN_CHART_VALUES = 2
#: Site colours, in the order of the sorted site names (colour-blind-safe first).
PALETTE = [
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


# --------------------------------------------------------------------------- metric names

_TITLES = {
    PRICE_METRIC: "Monthly price",
    "price_usd": "Price",
    PRICE_PER_GB_METRIC: "Price per GB-month",
    STORAGE_METRIC: "Included storage",
    # A data volume per period is an allowance (transfer, egress, downloads), not storage.
    "storage_gb_per_month": "Monthly data allowance",
    "data_transfer_gb_month": "Monthly data transfer",
    "duration_s": "Duration",
    "percent": "Percentage",
}


def metric_title(metric: str, labels: list[str] | None = None) -> str:
    """A human title for a metric key ("price_usd_month" -> "Monthly price").

    `labels` (the column headers it came from) name a metric no concept names.
    """
    base, _, column = metric.partition("__")
    concept = concept_of_key(base)
    per = re.fullmatch(r"price_per_(\w+?)_usd(_month)?", base)
    if base in _TITLES:
        title = _TITLES[base]
    elif per and base != PRICE_PER_GB_METRIC:
        title = f"{'Monthly price' if per.group(2) else 'Price'} per {per.group(1)}"
    elif concept is not None:
        title = concept.title
    elif labels:
        title = re.sub(r"\s*[(\[].*?[)\]]", "", labels[0]).strip() or labels[0]
    else:
        title = base.replace("_", " ").capitalize()
    return f"{title} ({column.replace('_', ' ')})" if column else title


@dataclass(frozen=True)
class MetricInfo:
    """How one metric is named: title, unit (with the currencies converted), extremes."""

    metric: str
    title: str
    unit: str
    low: str
    high: str
    ref: str

    @property
    def heading(self) -> str:
        """Title with its unit: "Battery capacity (Wh)", "Price (EUR → USD)"."""
        return f"{self.title} ({self.unit})" if self.unit else self.title


def metric_info(metric: str, sub: pd.DataFrame) -> MetricInfo:
    """Name a metric from its key and its rows (headers, units, raw cells)."""
    labels = [str(h) for h in dict.fromkeys(sub["label"].tolist())]
    unit = str(sub["unit"].iloc[0]) if len(sub) else ""
    base = metric.partition("__")[0]
    per = re.fullmatch(r"price_per_(\w+?)_usd(_month)?", base)
    per_unit = unit.removeprefix("USD/").removesuffix("/month") if per else ""
    if per and per_unit and base != PRICE_PER_GB_METRIC:  # the unit as the question wrote it
        title = f"{'Monthly price' if per.group(2) else 'Price'} per {per_unit}"
    else:
        title = metric_title(metric, labels)
    if unit.startswith("USD"):
        found = {find_currency(str(raw))[0] for raw in sub["raw"].tolist()}
        others = sorted(c for c in found if c and c != "USD")
        unit = f"{', '.join(others)} → {unit}" if others else unit
    concept = concept_of_key(base)
    if base in _EXTREMES:
        low, high, ref = _EXTREMES[base]
    elif per:
        per_unit = per_unit or per.group(1)
        low, high, ref = (
            f"Cheapest per {per_unit}",
            f"Most expensive per {per_unit}",
            ("the cheapest"),
        )
    elif concept is not None and not base.startswith("price_"):
        low, high, ref = concept.low, concept.high, f"the {concept.low.lower()}"
    else:
        low, high, ref = f"Lowest {title}", f"Highest {title}", "lowest"
    return MetricInfo(metric, title, unit, low, high, ref)


# --------------------------------------------------------------------------- charts


def format_value(value: float) -> str:
    """Short human number: 1,099.5 / 4.99 / 0.00499."""
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.1f}".removesuffix(".0")
    if abs(value) >= 1 or value == 0:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def site_colours(df: pd.DataFrame) -> dict[str, str]:
    """One colour per site, by sorted site name: the same in every chart of a comparison."""
    sites = sorted(df["site"].unique().tolist()) if not df.empty else []
    return {str(site): PALETTE[i % len(PALETTE)] for i, site in enumerate(sites)}


def chart_metrics(df: pd.DataFrame) -> list[str]:
    """The metrics that get a chart: those with at least two values to compare."""
    counts = df[df["value"].notna()].groupby("metric", sort=False).size()
    return [str(m) for m, n in counts.items() if n >= MIN_CHART_VALUES]


def draw_charts(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One horizontal bar chart per comparable metric, ``<out_dir>/charts/<metric>.png``.

    Bars are items sorted by value and coloured by site; the title and the axis name the
    metric and its unit, and each bar carries its value. A "price per GB" chart is drawn
    too when some item has both price and storage. Metrics with one value get none.
    """
    df = add_price_per_gb(df)
    charts_dir = Path(out_dir) / "charts"
    charts_dir.mkdir(parents=True, exist_ok=True)
    colours = site_colours(df)
    paths: list[Path] = []
    for metric in chart_metrics(df):
        sub = df[df["metric"] == metric]
        path = chart_path(out_dir, metric)
        heading = metric_info(metric, sub).heading
        bar_chart(sub, colours, path, title=heading, axis=heading)
        paths.append(path)
    return paths


def chart_path(out_dir: str | Path, metric: str) -> Path:
    """Where a metric's chart goes: ``<out_dir>/charts/<metric>.png``."""
    return Path(out_dir) / "charts" / f"{slug(metric) if '__' not in metric else metric}.png"


def bar_chart(
    sub: pd.DataFrame, colours: dict[str, str], path: Path, *, title: str, axis: str
) -> None:
    """Draw and save one metric's bar chart (Agg canvas, no pyplot state to leak).

    Bars are `sub`'s items sorted by value and coloured by site, each labelled with its value.
    """
    sub = sub[sub["value"].notna()].sort_values("value", kind="stable")
    path.parent.mkdir(parents=True, exist_ok=True)
    items = [str(i) for i in sub["item"].tolist()]
    sites = [str(s) for s in sub["site"].tolist()]
    values = [float(v) for v in sub["value"].tolist()]
    unique = len(set(items)) == len(items)
    labels = items if unique else [f"{i} ({s})" for i, s in zip(items, sites, strict=True)]
    labels = [label if len(label) <= 40 else label[:39] + "…" for label in labels]
    fig = Figure(figsize=(9, max(3.2, 0.5 * len(items) + 1.8)), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.barh(range(len(items)), values, color=[colours[s] for s in sites])
    ax.set_yticks(range(len(items)), labels, fontsize=10)
    ax.bar_label(bars, labels=[format_value(v) for v in values], padding=3, fontsize=10)
    ax.set_xlabel(axis, fontsize=10)
    ax.margins(x=0.18)
    headers = ", ".join(dict.fromkeys(str(h) for h in sub["label"].tolist()))
    fig.suptitle(title, fontsize=13, fontweight="bold")
    ax.set_title(f"from the columns: {headers}", fontsize=9, color="#555555")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    present = [site for site in colours if site in set(sites)]  # one legend order everywhere
    ax.legend(
        handles=[Patch(color=colours[s], label=s) for s in present],
        title="site",
        fontsize=9,
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
    "price_usd": ("Cheapest price", "Most expensive price", "the cheapest"),
    PRICE_PER_GB_METRIC: ("Best price per GB", "Worst price per GB", "the best"),
    STORAGE_METRIC: ("Least storage", "Most storage", "the least"),
}


def highlights(df: pd.DataFrame, question: str = "") -> list[str]:
    """Short computed comparisons: the extremes of each metric, in its own words.

    "Cheapest monthly price", "Longest range", "Lightest"..., each with site and raw cell;
    a metric with one value says that it has no chart. The metrics `question` asks about
    come first: a ratio it asks for ("cheapest per Wh"), then those it names.
    """
    lines: list[str] = []
    if df.empty:
        return lines
    metrics = list(dict.fromkeys(df["metric"].tolist()))
    if question:
        labels = df.groupby("metric", sort=False)["label"].agg(lambda s: list(dict.fromkeys(s)))
        metrics.sort(key=lambda m: question_rank(question, m, [str(x) for x in labels[m]]))
    for metric in metrics:
        sub = df[df["metric"] == metric]
        lines.extend(metric_highlights(sub, metric_info(metric, sub)))
    return lines


def metric_highlights(sub: pd.DataFrame, info: MetricInfo) -> list[str]:
    """One metric's highlights in `info`'s words: its low and high end, or its only value."""
    sub = sub[sub["value"].notna()].reset_index(drop=True)
    if sub.empty:
        return []
    lo = _row(sub, int(sub["value"].to_numpy().argmin()))
    hi = _row(sub, int(sub["value"].to_numpy().argmax()))
    if len(sub) < MIN_CHART_VALUES:
        return [f"{info.heading}: {_describe(lo)} (only one value: no chart)"]
    lines = [f"{info.low}: {_describe(lo)}{_ties(sub, lo)}"]
    if info.metric == PRICE_PER_GB_METRIC and lo["value"] == 0 and (sub["value"] > 0).any():
        paid = sub[sub["value"] > 0].reset_index(drop=True)
        best = _row(paid, int(paid["value"].to_numpy().argmin()))
        lines.append(f"Best paid price per GB: {_describe(best)}{_ties(paid, best)}")
    ratio = f" — {hi['value'] / lo['value']:.1f}× {info.ref}" if lo["value"] > 0 else ""
    lines.append(f"{info.high}: {_describe(hi)}{ratio}{_ties(sub, hi)}")
    return lines


def _row(sub: pd.DataFrame, position: int) -> dict[str, Any]:
    """The row at `position` as a dict."""
    return cast(dict[str, Any], sub.iloc[position].to_dict())


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
