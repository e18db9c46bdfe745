"""The calls a run's generated analysis script is made of: tables, metrics, ratios, charts.

It runs INSIDE the code-interpreter sandbox, shipped into the work dir beside
``analysis_runtime.py``, so it imports only the standard library, pandas, matplotlib, pint
and its sibling modules, never the Flotilla project.

A generated script (``nodes/analyse/offline.py`` writes it from the plan ``analysis_plan``
makes) reads like the analysis it is::

    comparison = Comparison(QUESTION)
    t1 = comparison.table("tables/site-1-1.csv", site="VoltWay", source_url="http://...")
    comparison.metric("range_km", "Range", unit="km", columns=[(t1, "Range")])
    comparison.ratio("price_per_wh_usd", "Price per Wh", numerator="price_usd",
                     denominator="battery_capacity_wh", per="Wh", unit="USD/Wh", label="...")
    comparison.chart("range_km", title="Range (km)", axis="Range (km)")
    comparison.highlight("range_km", low="Shortest range", high="Longest range", ref="...")
    summary = comparison.finish("out")

Every value it shows comes from the tables' cells; the script names what they mean.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from analysis_charts import (
    MetricInfo,
    bar_chart,
    chart_path,
    comparison_markdown,
    metric_highlights,
    site_colours,
)
from analysis_quantities import FX_TO_USD
from analysis_ratios import RatioSpec, derive_ratio, in_unit, metric_dimension
from analysis_tables import COLUMNS, TableInput, table_rows


@dataclass(frozen=True)
class _Metric:
    """A metric as the script declares it: its key, title and unit (with any currencies)."""

    key: str
    title: str
    unit: str
    currencies: tuple[str, ...]

    @property
    def shown_unit(self) -> str:
        """The unit as headings show it: "Wh", "EUR, GBP → USD/month"."""
        return f"{', '.join(self.currencies)} → {self.unit}" if self.currencies else self.unit

    @property
    def heading(self) -> str:
        """The title with its unit: "Battery capacity (Wh)"."""
        return f"{self.title} ({self.shown_unit})" if self.shown_unit else self.title


class Comparison:
    """One run's comparison, built call by call: tables, metrics, ratios, charts, highlights."""

    def __init__(self, question: str = "", fx_to_usd: Mapping[str, float] | None = None) -> None:
        """Start empty; `fx_to_usd` (USD per unit of a currency) overrides the fixed rates."""
        self.question = question
        self.fx = {**FX_TO_USD, **{k.upper(): float(v) for k, v in (fx_to_usd or {}).items()}}
        self.warnings: list[str] = []
        self.started = time.perf_counter()
        self._tables: list[TableInput] = []
        self._rows: list[list[dict[str, Any]]] = []
        self._seen: set[tuple[str, str]] = set()
        self._metrics: dict[str, _Metric] = {}
        self._frames: list[pd.DataFrame] = []
        self._charts: dict[str, tuple[str, str]] = {}
        self._highlights: dict[str, tuple[str, str, str]] = {}

    def table(self, path: str, *, site: str, source_url: str = "", caption: str = "") -> int:
        """Read one saved table (every cell as text); returns its number for `metric`."""
        table = TableInput(site=site, source_url=source_url, path=Path(path), caption=caption)
        self._tables.append(table)
        self._rows.append(table_rows(table, self.fx, self.warnings, self._seen))
        return len(self._tables)

    def metric(
        self,
        key: str,
        title: str,
        *,
        unit: str,
        columns: Sequence[tuple[int, str]],
        currencies: Sequence[str] = (),
    ) -> None:
        """Join `columns` ((table number, header) pairs) into one metric shown in `unit`.

        Physical values are converted to `unit` ("Wh" to "kWh"); money is already in USD
        (`currencies` names the ones converted from, for the heading).
        """
        rows: list[dict[str, Any]] = []
        for number, header in columns:
            rows += [dict(r) for r in self._rows[number - 1] if r["label"] == header]
        for row in rows:
            if row["unit"] != unit and metric_dimension(str(row["unit"])):
                row["value"] = in_unit(float(row["value"]), str(row["unit"]), unit)
                row["unit"] = unit
            row["metric"] = key
        self._add(_Metric(key, title, unit, tuple(currencies)), pd.DataFrame(rows, columns=COLUMNS))

    def ratio(
        self,
        key: str,
        title: str,
        *,
        numerator: str,
        denominator: str,
        per: str,
        unit: str,
        label: str,
        currencies: Sequence[str] = (),
    ) -> None:
        """A derived metric: each item's `numerator` ÷ its `denominator` counted in `per`."""
        spec = RatioSpec(key, numerator, denominator, per, unit, label)
        both = self.frame()
        derived = derive_ratio(both, spec, COLUMNS).iloc[len(both) :]
        self._add(_Metric(key, title, unit, tuple(currencies)), derived)

    def chart(self, key: str, *, title: str, axis: str) -> None:
        """Draw `key`'s values as a bar chart with this title and axis label."""
        self._charts[key] = (title, axis)

    def highlight(self, key: str, *, low: str, high: str, ref: str) -> None:
        """Say `key`'s low and high end in these words ("Cheapest", "Most expensive")."""
        self._highlights[key] = (low, high, ref)

    def frame(self) -> pd.DataFrame:
        """The comparison so far: one row per item and metric, metric by metric."""
        frames = [f for f in self._frames if not f.empty]
        if not frames:
            return pd.DataFrame(columns=COLUMNS).astype({"value": "float64"})
        return pd.concat(frames, ignore_index=True).astype({"value": "float64"})

    def _add(self, metric: _Metric, rows: pd.DataFrame) -> None:
        self._metrics[metric.key] = metric
        self._frames.append(rows.reset_index(drop=True))

    def finish(self, out_dir: str = "out") -> dict[str, Any]:
        """Write comparison.csv, the charts and summary.json under `out_dir`; return the summary.

        The summary: question, highlights, comparison_markdown, metrics, warnings, n_rows,
        charts, fx_to_usd, metric_info (per metric: title, unit, heading, values, chart) and
        site_colours.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        df = self.frame()
        df.to_csv(out / "comparison.csv", index=False)
        colours = site_colours(df)
        charts: dict[str, str] = {}
        for key, (title, axis) in self._charts.items():
            path = chart_path(out, key)
            bar_chart(df[df["metric"] == key], colours, path, title=title, axis=axis)
            charts[key] = path.relative_to(out).as_posix()
        lines: list[str] = []
        for key, (low, high, ref) in self._highlights.items():
            m = self._metrics[key]
            info = MetricInfo(key, m.title, m.shown_unit, low, high, ref)
            lines += metric_highlights(df[df["metric"] == key], info)
        metrics = [k for k in self._metrics if (df["metric"] == k).any()]
        summary: dict[str, Any] = {
            "question": self.question,
            "highlights": lines,
            "comparison_markdown": comparison_markdown(df),
            "metrics": metrics,
            "warnings": list(self.warnings),
            "n_rows": len(df),
            "charts": list(charts.values()),
            "fx_to_usd": self.fx,
            "metric_info": [self._describe(df, k, charts.get(k)) for k in metrics],
            "site_colours": colours,
        }
        (out / "summary.json").write_text(
            json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        print(
            f"analysis: {len(self._tables)} tables -> {len(df)} rows, {len(metrics)} metrics, "
            f"{len(charts)} charts, {len(self.warnings)} warnings "
            f"in {time.perf_counter() - self.started:.2f}s (out: {out})"
        )
        return summary

    def _describe(self, df: pd.DataFrame, key: str, chart: str | None) -> dict[str, Any]:
        m = self._metrics[key]
        return {
            "metric": key,
            "title": m.title,
            "unit": m.shown_unit,
            "heading": m.heading,
            "values": int((df["metric"] == key).sum()),
            "chart": chart,
        }
