"""Derived ratios a question asks for (price per Wh, per km...), and a unit that fits each metric.

It runs INSIDE the code-interpreter sandbox, shipped into the work dir beside
``analysis_runtime.py`` (the entry module), so it imports only the standard library, pandas,
pint (through ``analysis_units``) and its sibling modules, never the Flotilla project.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from analysis_metrics import Ratio, concept_of_key, slug
from analysis_quantities import GB_PER_UNIT
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


@dataclass(frozen=True)
class RatioSpec:
    """A derived metric: `numerator` ÷ `denominator` per one `per`, per item that has both."""

    key: str
    numerator: str
    denominator: str
    per: str  # the unit the denominator is counted in ("GB", "Wh", "km")
    unit: str  # the ratio's unit ("USD/Wh", "USD/GB/month")
    label: str  # what the rows' label column says ("price ÷ storage (derived)")


def ratio_specs(df: pd.DataFrame, ratios: Sequence[Ratio]) -> list[RatioSpec]:
    """The "price_per_<unit>_usd" ratios `df` can give for the ratios a question asks for.

    One per ratio whose dimension some metric has, divided by that metric; data sizes are
    left to the price-per-GB ratio every comparison already has.
    """
    price = next((p for p in _PRICES if (df["metric"] == p).any()), None) if len(df) else None
    if price is None:
        return []
    month = "/month" if price.endswith("_month") else ""
    specs: list[RatioSpec] = []
    for ratio in ratios:
        target = _target_metric(df, ratio) if ratio.dimension != "information" else None
        key = f"price_per_{slug(ratio.unit)}_usd" + ("_month" if month else "")
        if target is None or (df["metric"] == key).any() or key in {s.key for s in specs}:
            continue
        label = str(df.loc[df["metric"] == target, "label"].iloc[0])
        per = ratio.pint_unit or ratio.unit
        unit = f"USD/{ratio.unit}{month}"
        specs.append(RatioSpec(key, price, target, per, unit, f"price ÷ {label} (derived)"))
    return specs


def in_unit(value: float, unit: str, to: str) -> float:
    """`value` in `unit` counted in `to`: data sizes by their prefixes, the rest by pint."""
    if unit == to:
        return value
    if unit in GB_PER_UNIT and to in GB_PER_UNIT:
        return value * GB_PER_UNIT[unit] / GB_PER_UNIT[to]
    return convert(value, unit, to)


def derive_ratio(df: pd.DataFrame, spec: RatioSpec, columns: Sequence[str]) -> pd.DataFrame:
    """Add `spec`'s rows: each item's numerator ÷ its denominator counted in `spec.per`.

    Only items (same site and item) with both, and a denominator above zero, get a row; its
    raw cell shows both cells ("€ 2,50 per month ÷ 0.1 TB").
    """
    if df.empty or (df["metric"] == spec.key).any():
        return df
    tops = df[df["metric"] == spec.numerator].drop_duplicates(["site", "item"])
    amounts = df[(df["metric"] == spec.denominator) & (df["value"] > 0)]
    both = tops.merge(amounts.drop_duplicates(["site", "item"]), on=["site", "item"])
    if both.empty:
        return df
    pairs = zip(both["value_y"], both["unit_y"], strict=True)
    per = [in_unit(float(v), str(u), spec.per) for v, u in pairs]
    derived = pd.DataFrame(
        {
            "site": both["site"],
            "item": both["item"],
            "metric": spec.key,
            "label": spec.label,
            "value": both["value_x"] / pd.Series(per, index=both.index),
            "unit": spec.unit,
            "raw": both["raw_x"] + " ÷ " + both["raw_y"],
            "source_url": both["source_url_x"],
        },
        columns=list(columns),
    )
    out = pd.concat([df, derived], ignore_index=True)
    out.attrs = dict(df.attrs)
    return out


def add_question_ratios(
    df: pd.DataFrame, ratios: Sequence[Ratio], columns: Sequence[str]
) -> pd.DataFrame:
    """Add "price_per_<unit>_usd" rows (price ÷ the metric in that unit) for each ratio.

    Only items (same site and item) that have both a price and the metric get a row; data
    sizes are left to the price-per-GB rows every comparison already has.
    """
    for spec in ratio_specs(df, ratios):
        df = derive_ratio(df, spec, columns)
    return df


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
