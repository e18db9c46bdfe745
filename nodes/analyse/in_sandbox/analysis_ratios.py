"""Derived ratios a question asks for (price per Wh, per km...), and a unit that fits each metric.

It runs INSIDE the code-interpreter sandbox, shipped into the work dir beside
``analysis_runtime.py`` (the entry module), so it imports only the standard library, pandas,
pint (through ``analysis_units``) and its sibling modules, never the Flotilla project.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from analysis_metrics import Ratio, concept_of_key, slug
from analysis_units import CANONICAL, convert

#: Units a metric of a dimension may be shown in, smallest first (the canonical one among them).
LADDERS = {
    "length": ["mm", "cm", "m", "km"],
    "mass": ["g", "kg", "t"],
    "energy": ["Wh", "kWh", "MWh"],
    "power": ["W", "kW", "MW"],
    "volume": ["mL", "L"],
}
#: The display unit of a metric -> its dimension (the units ``normalise`` writes).
_DIMENSION_OF_UNIT = {unit: dimension for dimension, unit in CANONICAL.items()}
_PRICES = ("price_usd_month", "price_usd")


def metric_dimension(unit: str) -> str:
    """The dimension of a metric shown in `unit` ("Wh": energy), "" when not physical."""
    return _DIMENSION_OF_UNIT.get(unit, "")


def _target_metric(df: pd.DataFrame, ratio: Ratio) -> str | None:
    """The metric a ratio divides by: of the ratio's dimension, named by a concept first."""
    candidates = [
        str(m)
        for m in dict.fromkeys(df["metric"].tolist())
        if "__" not in str(m)
        and metric_dimension(str(df.loc[df["metric"] == m, "unit"].iloc[0])) == ratio.dimension
    ]
    candidates.sort(key=lambda m: (concept_of_key(m) is None, -int((df["metric"] == m).sum())))
    return candidates[0] if candidates else None


def add_question_ratios(
    df: pd.DataFrame, ratios: Sequence[Ratio], columns: Sequence[str]
) -> pd.DataFrame:
    """Add "price_per_<unit>_usd" rows (price ÷ the metric in that unit) for each ratio.

    Only items (same site and item) that have both a price and the metric get a row; data
    sizes are left to the price-per-GB rows every comparison already has.
    """
    price = next((p for p in _PRICES if (df["metric"] == p).any()), None) if len(df) else None
    if price is None:
        return df
    prices = df[df["metric"] == price].drop_duplicates(["site", "item"])
    month = "/month" if price.endswith("_month") else ""
    frames = [df]
    for ratio in ratios:
        target = _target_metric(df, ratio) if ratio.dimension != "information" else None
        key = f"price_per_{slug(ratio.unit)}_usd" + ("_month" if month else "")
        if target is None or (df["metric"] == key).any():
            continue
        amounts = df[(df["metric"] == target) & (df["value"] > 0)]
        both = prices.merge(amounts.drop_duplicates(["site", "item"]), on=["site", "item"])
        if both.empty:
            continue
        unit = str(both["unit_y"].iloc[0])
        per_unit = [convert(float(v), unit, ratio.pint_unit) for v in both["value_y"]]
        label = str(both["label_y"].iloc[0])
        frames.append(
            pd.DataFrame(
                {
                    "site": both["site"],
                    "item": both["item"],
                    "metric": key,
                    "label": f"price ÷ {label} (derived)",
                    "value": both["value_x"] / pd.Series(per_unit, index=both.index),
                    "unit": f"USD/{ratio.unit}{month}",
                    "raw": both["raw_x"] + " ÷ " + both["raw_y"],
                    "source_url": both["source_url_x"],
                },
                columns=list(columns),
            )
        )
    if len(frames) == 1:
        return df
    out = pd.concat(frames, ignore_index=True)
    out.attrs = dict(df.attrs)
    return out


def fit_units(df: pd.DataFrame) -> pd.DataFrame:
    """Show each physical metric in the largest unit of its ladder its median reaches 1 in.

    A wheel of 0.0007 km reads as 69.85 cm, a car battery of 75,000 Wh as 75 kWh; a range
    of 120 km stays in km. The metric key's unit follows ("wheel_size_cm").
    """
    if df.empty:
        return df
    df = df.copy()
    for metric in list(dict.fromkeys(df["metric"].tolist())):
        rows = df["metric"] == metric
        unit = str(df.loc[rows, "unit"].iloc[0])
        ladder = LADDERS.get(metric_dimension(unit), [])
        suffix = "_" + slug(unit)
        base, sep, site = str(metric).partition("__")
        if unit not in ladder or not base.endswith(suffix):
            continue
        median = float(df.loc[rows, "value"].median())
        fits = [u for u in ladder if abs(convert(median, unit, u)) >= 1] or ladder[:1]
        best = fits[-1]
        if best == unit:
            continue
        df.loc[rows, "value"] = [convert(float(v), unit, best) for v in df.loc[rows, "value"]]
        df.loc[rows, "unit"] = best
        df.loc[rows, "metric"] = base.removesuffix(suffix) + "_" + slug(best) + sep + site
    return df
