"""Profile a run's tables and plan its analysis: which columns make which metric, in what unit.

It runs INSIDE the code-interpreter sandbox, shipped into the work dir beside
``analysis_runtime.py``, so it imports only the standard library, pandas, pint and its
sibling modules, never the Flotilla project.

``profile`` reads the manifest's tables the way the comparison does (header words,
dimension and unit through pint, money and its currencies) and returns the plan as plain
JSON data: the tables; each metric with its title, unit and the (table, header) columns
joined into it; the derived ratios (price per GB, and the ones the question implies); the
charts with their title and axis; the highlights in the metric's own words, the
question's metrics first. The host turns the plan into this run's script
(``nodes/analyse/offline.py``); ``apply_plan`` makes the same calls in-process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from analysis_charts import chart_metrics, metric_info
from analysis_metrics import question_rank, question_ratios
from analysis_quantities import FX_TO_USD, find_currency
from analysis_ratios import RatioSpec, ratio_specs
from analysis_script import Comparison
from analysis_tables import (
    COLUMNS,
    PRICE_PER_GB,
    add_price_per_gb,
    derive_and_fit,
    read_manifest,
    table_rows,
)


def profile(manifest_path: str | Path) -> dict[str, Any]:
    """The plan of the analysis of a manifest's tables (JSON data, see the module doc)."""
    manifest = read_manifest(manifest_path)
    fx = {**FX_TO_USD, **(manifest.fx_to_usd or {})}
    warnings: list[str] = []
    seen: set[tuple[str, str]] = set()
    rows: list[dict[str, Any]] = []
    origin: list[int] = []  # the table number of each row
    for number, table in enumerate(manifest.tables, start=1):
        found = table_rows(table, fx, warnings, seen)
        rows += found
        origin += [number] * len(found)
    raw = pd.DataFrame(rows, columns=COLUMNS).astype({"value": "float64"})
    question = manifest.question
    specs = {s.key: s for s in ratio_specs(add_price_per_gb(raw), question_ratios(question))}
    specs[PRICE_PER_GB.key] = PRICE_PER_GB
    final = derive_and_fit(raw, question)
    renamed = {  # a metric's key before and after its unit was fitted ("_wh" -> "_kwh")
        str(raw.at[i, "metric"]): str(final.at[i, "metric"]) for i in range(len(raw))
    }
    metrics: list[dict[str, Any]] = []
    for key in dict.fromkeys(str(m) for m in final["metric"].tolist()):
        sub = final[final["metric"] == key]
        info = metric_info(key, sub)
        entry: dict[str, Any] = {
            "key": key,
            "title": info.title,
            "unit": str(sub["unit"].iloc[0]),
            "currencies": _currencies(sub),
        }
        mine = [i for i in sub.index if i < len(raw)]
        if mine:
            pairs = dict.fromkeys((origin[i], str(raw.at[i, "label"])) for i in mine)
            entry["columns"] = [list(pair) for pair in pairs]
        else:
            entry["ratio"] = _ratio(specs[key], renamed)
        entry["low"], entry["high"], entry["ref"] = info.low, info.high, info.ref
        entry["heading"] = info.heading
        metrics.append(entry)
    charted = set(chart_metrics(final))
    labels = final.groupby("metric", sort=False)["label"].agg(lambda s: list(dict.fromkeys(s)))
    order = sorted(
        metrics, key=lambda e: question_rank(question, e["key"], [str(x) for x in labels[e["key"]]])
    )
    return {
        "question": question,
        "fx_to_usd": manifest.fx_to_usd,
        "tables": [
            {"path": str(t.path), "site": t.site, "source_url": t.source_url, "caption": t.caption}
            for t in manifest.tables
        ],
        "metrics": metrics,
        "charts": [
            {"key": e["key"], "title": e["heading"], "axis": e["heading"]}
            for e in metrics
            if e["key"] in charted
        ],
        "highlights": [
            {"key": e["key"], "low": e["low"], "high": e["high"], "ref": e["ref"]} for e in order
        ],
        "warnings": warnings,
    }


def _currencies(sub: pd.DataFrame) -> list[str]:
    """The currencies other than USD that a money metric's cells were converted from."""
    if not str(sub["unit"].iloc[0]).startswith("USD"):
        return []
    found = {find_currency(str(raw))[0] for raw in sub["raw"].tolist()}
    return sorted(c for c in found if c and c != "USD")


def _ratio(spec: RatioSpec, renamed: dict[str, str]) -> dict[str, str]:
    """A ratio as the plan lists it, dividing the metrics by their final (fitted) keys."""
    return {
        "numerator": renamed.get(spec.numerator, spec.numerator),
        "denominator": renamed.get(spec.denominator, spec.denominator),
        "per": spec.per,
        "unit": spec.unit,
        "label": spec.label,
    }


def write_plan(manifest_path: str, plan_path: str) -> None:
    """Profile a manifest's tables and write the plan as JSON (the host reads it back)."""
    plan = profile(manifest_path)
    Path(plan_path).write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")


def apply_plan(plan: dict[str, Any]) -> Comparison:
    """Make a plan's calls in-process: what the script generated from it does."""
    comparison = Comparison(plan["question"], fx_to_usd=plan["fx_to_usd"])
    for t in plan["tables"]:
        comparison.table(
            t["path"], site=t["site"], source_url=t["source_url"], caption=t["caption"]
        )
    for m in plan["metrics"]:
        if "ratio" in m:
            comparison.ratio(m["key"], m["title"], currencies=m["currencies"], **m["ratio"])
        else:
            columns = [(int(n), str(h)) for n, h in m["columns"]]
            comparison.metric(
                m["key"], m["title"], unit=m["unit"], columns=columns, currencies=m["currencies"]
            )
    for c in plan["charts"]:
        comparison.chart(c["key"], title=c["title"], axis=c["axis"])
    for h in plan["highlights"]:
        comparison.highlight(h["key"], low=h["low"], high=h["high"], ref=h["ref"])
    return comparison
