"""Read the manifest and its CSV tables into one long comparison table.

It runs INSIDE the code-interpreter sandbox, shipped into the work dir beside
``analysis_runtime.py`` (the entry module), so it imports only the standard library, pandas,
numpy, matplotlib, pint and its sibling modules, never the Flotilla project.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from analysis_metrics import metric_base, question_ratios, slug
from analysis_quantities import (
    FX_TO_USD,
    GB_PER_UNIT,
    PER_MONTH,
    Kind,
    Period,
    Quantity,
    find_currency,
    find_period,
    header_unit,
    is_placeholder,
    normalise,
    parse_quantity,
)
from analysis_ratios import RatioSpec, add_question_ratios, derive_ratio, fit_units

#: A column is numeric when at least this share of its non-empty cells parse to one kind.
MAJORITY = 0.6
#: Rows shown in the markdown table of ``summary.json``; the CSV always has all of them.
COLUMNS = ["site", "item", "metric", "label", "value", "unit", "raw", "source_url"]
PRICE_METRIC = "price_usd_month"
STORAGE_METRIC = "storage_gb"
PRICE_PER_GB_METRIC = "price_per_gb_usd_month"


@dataclass(frozen=True)
class TableInput:
    """One CSV table saved by a browser subagent, with where it came from."""

    site: str
    source_url: str
    path: Path
    caption: str = ""


@dataclass(frozen=True)
class Manifest:
    """The analyst's manifest: the research question, FX overrides and the tables."""

    question: str
    fx_to_usd: dict[str, float] | None
    tables: list[TableInput]


@dataclass(frozen=True)
class _Column:
    """A numeric column: its metric key and the kind/unit/period its cells normalise to."""

    key: str
    kind: Kind
    unit: str
    period: Period | None


def metric_key(nq: Quantity, header: str = "") -> str:
    """The metric key of a normalised quantity under `header`: what it names, with its unit.

    "price_usd_month", "storage_gb", "battery_capacity_wh", "range_km", "object_size_gb"...
    Columns join across sites only on equal keys, so on the same words (or one concept) and
    the same dimension. A key ending in "__" names nothing: the caller adds the site.
    """
    month = "_month" if nq.period else ""
    base = metric_base(header, nq.kind, nq.dimension)
    if nq.kind == "money":
        return f"{base if base not in ('', 'price') else 'price'}_usd{month}"
    if nq.kind == "rate":
        per = nq.unit.removeprefix("USD/").removesuffix("/month")
        return f"{base if base not in ('', 'price') else 'rate'}_usd_per_{slug(per)}{month}"
    if nq.kind == "storage":
        if base == "data_transfer":
            return "data_transfer_gb" + month
        return f"{base if base else 'storage'}_gb" + ("_per_month" if nq.period else "")
    if nq.kind == "count":
        return "count_" + slug(nq.unit or header)
    unit = "pct" if nq.kind == "percent" else slug(nq.unit)
    if nq.kind == "percent" and not base:
        return "percent" + ("_per_month" if nq.period else "") + "__"
    if nq.kind == "duration" and not base:
        return "duration_s__"
    return f"{base or nq.dimension}_{unit}" + ("" if base else "__")


def _header_hint(header: str, q: Quantity) -> Quantity:
    """Give a bare number the unit its header names ("Price (EUR/month)", "Storage (TB)").

    Also gives money without a period the header's period ("Monthly fee": "$5").
    """
    if q.kind == "money" and q.period is None:
        return replace(q, period=_header_period(header))
    if q.kind != "count" or q.unit:
        return q
    currency, _ = find_currency(header)
    if currency is not None:
        return Quantity(q.value, "money", currency, currency, _header_period(header))
    unit = re.search(r"\b([KMGTP]i?B)\b", header)
    if unit and unit.group(1) in GB_PER_UNIT:
        return Quantity(q.value, "storage", unit.group(1), None, None)
    if "%" in header or re.search(r"\bpercent\b", header, re.I):
        return Quantity(q.value, "percent", "%", None, None)
    named = header_unit(header)
    if named is not None:
        return Quantity(q.value, "measure", named[0], None, None, named[1])
    return q


def _header_period(header: str) -> Period | None:
    """The billing period a column header names ("Monthly fee", "Price / year")."""
    return find_period(" " + header)


def _read_cells(
    header: str, cells: Sequence[str], fx: Mapping[str, float]
) -> tuple[_Column | None, list[Quantity | None]]:
    """Classify a column and return each cell normalised (None where it does not fit)."""
    normalised: list[Quantity | None] = []
    for cell in cells:
        q = parse_quantity(cell)
        normalised.append(normalise(_header_hint(header, q), fx) if q else None)
    non_empty = [c for c in cells if not is_placeholder(str(c))]
    parsed = [q for q in normalised if q is not None]
    if not non_empty or not parsed:
        return None, normalised
    kind, n_kind = Counter(q.kind for q in parsed).most_common(1)[0]
    if n_kind / len(non_empty) < MAJORITY:
        return None, normalised
    of_kind = [q for q in parsed if q.kind == kind]
    # A periodic money column decides the period of "$0" / "Free" cells in it.
    periods = Counter(q.period for q in of_kind if q.period)
    period = periods.most_common(1)[0][0] if periods else None
    fixed = [_adopt_period(q, kind, period) for q in normalised]
    keys = Counter(metric_key(q, header) for q in fixed if q is not None and q.kind == kind)
    key, n_key = keys.most_common(1)[0]
    if n_key / len(non_empty) < MAJORITY:  # e.g. a spec column: kWh, then km, then kg
        return None, normalised
    sample = next(q for q in fixed if q is not None and metric_key(q, header) == key)
    column = _Column(key, sample.kind, sample.unit, sample.period)
    return column, [q if q is not None and metric_key(q, header) == key else None for q in fixed]


def _adopt_period(q: Quantity | None, kind: str, period: Period | None) -> Quantity | None:
    """Money with no period of its own takes the column's period (e.g. "Free", "$0")."""
    if q is None or q.kind != kind or kind != "money" or q.period or period is None:
        return q
    return Quantity(q.value * PER_MONTH[period], "money", "USD/month", "USD", "month")


def classify_column(
    name: str, cells: list[str], fx_to_usd: Mapping[str, float] | None = None
) -> str | None:
    """The metric key of a column ("price_usd_month", "storage_gb", ...) or None.

    A column is numeric when at least 60 % of its non-empty cells (placeholders such as
    "—" are empty) parse to the same kind; the key then follows the majority's normalised
    unit. None means a text column (a label column candidate).
    """
    column, _ = _read_cells(name, cells, fx_to_usd or FX_TO_USD)
    return column.key if column else None


# --------------------------------------------------------------------------- manifest


def read_manifest(path: str | Path) -> Manifest:
    """Read a manifest; table paths in it are relative to the manifest's folder.

    Its shape: {"question", "fx_to_usd" | null, "tables": [{site, source_url, path, caption}]}.
    """
    manifest_path = Path(path)
    data = json.loads(manifest_path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("tables"), list):
        msg = f"manifest {str(manifest_path)!r} needs a 'tables' list"
        raise ValueError(msg)
    tables: list[TableInput] = []
    for i, entry in enumerate(data["tables"]):
        if not isinstance(entry, dict) or not entry.get("path"):
            msg = f"manifest {str(manifest_path)!r}: table #{i} has no 'path'"
            raise ValueError(msg)
        table_path = Path(str(entry["path"]))
        if not table_path.is_absolute():
            table_path = manifest_path.parent / table_path
        tables.append(
            TableInput(
                site=str(entry.get("site") or f"site {i + 1}"),
                source_url=str(entry.get("source_url") or ""),
                path=table_path,
                caption=str(entry.get("caption") or ""),
            )
        )
    fx = data.get("fx_to_usd")
    fx_map = {str(k).upper(): float(v) for k, v in fx.items()} if isinstance(fx, dict) else None
    return Manifest(question=str(data.get("question") or ""), fx_to_usd=fx_map, tables=tables)


def load_manifest(path: str | Path) -> list[TableInput]:
    """The tables a manifest lists (see `read_manifest` for the question and FX)."""
    return read_manifest(path).tables


# --------------------------------------------------------------------------- comparison


def _read_table(table: TableInput, sink: list[str]) -> pd.DataFrame | None:
    """Read a CSV as text cells exactly as saved; None (and a warning) when unreadable."""
    try:
        frame = pd.read_csv(
            table.path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig"
        )
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        sink.append(f"{table.site}: could not read {table.path.name!r} ({exc}); table skipped.")
        return None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _frame_rows(
    frame: pd.DataFrame, table: TableInput, fx: Mapping[str, float]
) -> list[dict[str, Any]]:
    """Long-form rows for one table read the usual way (one item per row)."""
    headers = list(frame.columns)
    columns: list[tuple[str, _Column, list[Quantity | None]]] = []
    label_col: str | None = None
    label_cells: list[str] = []
    seen: set[str] = set()
    for i, header in enumerate(headers):
        cells = [str(v) for v in frame.iloc[:, i].tolist()]
        column, values = _read_cells(header, cells, fx)
        if column is None:
            if label_col is None and any(not is_placeholder(c) for c in cells):
                label_col = header
                label_cells = cells
            continue
        key = column.key
        if key.endswith("__"):  # a header that names nothing: this site's own metric
            key += slug(table.site)
        elif key in seen:
            key = f"{key}__{slug(header)}"
        seen.add(key)
        columns.append((header, replace(column, key=key), values))
    rows: list[dict[str, Any]] = []
    for r in range(len(frame)):
        item = label_cells[r].strip() if label_col is not None else ""
        item = item or f"row {r + 1}"
        for header, column, values in columns:
            q = values[r]
            if q is None or not math.isfinite(q.value):
                continue
            raw = str(frame.iloc[r, headers.index(header)]).strip()
            rows.append(
                {
                    "site": table.site,
                    "item": item,
                    "metric": column.key,
                    "label": header,
                    "value": float(q.value),
                    "unit": q.unit,
                    "raw": raw,
                    "source_url": table.source_url,
                }
            )
    return rows


def _transposed(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Plans-as-columns tables ("Feature | Basic | Pro"), turned into plans-as-rows."""
    if frame.shape[1] < 2 or frame.shape[0] < 1:
        return None
    names = [str(v).strip() or f"row {i + 1}" for i, v in enumerate(frame.iloc[:, 0].tolist())]
    body = frame.iloc[:, 1:].T.reset_index()
    body.columns = [str(frame.columns[0]) or "item", *names]
    return body.astype(str)


def build_comparison(
    tables: Sequence[TableInput],
    *,
    fx_to_usd: Mapping[str, float] | None = None,
    warnings_out: list[str] | None = None,
    question: str = "",
) -> pd.DataFrame:
    """One long table comparing every numeric column of every table.

    Columns: site, item (the label cell), metric (e.g. "price_usd_month"), label (the
    original header), value (normalised float), unit (normalised unit text), raw (the cell
    as shown), source_url. Columns join across sites on equal metric keys: the same header
    words (or concept) and the same dimension.
    A table identical to one already read for the same site is read once. A derived
    "price_per_gb_usd_month" row is added for every item with both a monthly
    price and storage, and a "price per <unit>" row where `question` asks for one ("price
    per Wh"). Problems (unreadable tables, tables without numbers) become warning strings,
    appended to `warnings_out` and stored in ``df.attrs["warnings"]``.
    """
    fx = fx_to_usd or FX_TO_USD
    sink: list[str] = []
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for table in tables:
        rows.extend(table_rows(table, fx, sink, seen))
    df = finish_comparison(pd.DataFrame(rows, columns=COLUMNS), question)
    df.attrs["warnings"] = list(sink)
    if warnings_out is not None:
        warnings_out.extend(sink)
    return df


def table_rows(
    table: TableInput,
    fx: Mapping[str, float],
    sink: list[str],
    seen: set[tuple[str, str]],
) -> list[dict[str, Any]]:
    """One table's long-form rows (its numeric columns, one row per item and column).

    A table identical to one already in `seen` for the same site gives no rows; a table of
    plans as columns is read transposed; problems become warnings in `sink`.
    """
    frame = _read_table(table, sink)
    if frame is None:
        return []
    # The same table met twice on one site (a page reached again by another link)
    # counts once: its rows would otherwise tie with themselves.
    content = (table.site, frame.to_csv(index=False))
    if content in seen:
        return []
    seen.add(content)
    rows = _frame_rows(frame, table, fx)
    flipped = _transposed(frame) if not rows else None
    if flipped is not None:
        rows = _frame_rows(flipped, table, fx)
        if rows:
            sink.append(
                f"{table.site}: {table.path.name!r} has plans as columns; read it transposed."
            )
    if not rows:
        sink.append(
            f"{table.site}: {table.path.name!r} ({table.caption or 'no caption'}) has no "
            f"numeric columns (headers: {', '.join(map(repr, frame.columns))}); it adds "
            "nothing to the comparison."
        )
    return rows


def derive_and_fit(df: pd.DataFrame, question: str = "") -> pd.DataFrame:
    """Add the derived ratios to the tables' rows and fit units; the rows keep their index."""
    df = add_price_per_gb(df.astype({"value": "float64"}))
    df = add_question_ratios(df, question_ratios(question) if question else [], COLUMNS)
    return fit_units(df)


def finish_comparison(df: pd.DataFrame, question: str = "") -> pd.DataFrame:
    """Add the derived ratios to the tables' rows, fit units, group the rows by metric."""
    df = derive_and_fit(df, question)
    # Group rows by metric (first-seen order) so the CSV and markdown read metric by metric.
    order = {m: i for i, m in enumerate(dict.fromkeys(df["metric"].tolist()))}
    df = df.sort_values("metric", key=lambda s: s.map(order), kind="stable")
    return df.reset_index(drop=True)


#: The ratio every comparison of prices and storage gets: monthly price ÷ GB.
PRICE_PER_GB = RatioSpec(
    PRICE_PER_GB_METRIC,
    PRICE_METRIC,
    STORAGE_METRIC,
    "GB",
    "USD/GB/month",
    "price ÷ storage (derived)",
)


def add_price_per_gb(df: pd.DataFrame) -> pd.DataFrame:
    """Add "price_per_gb_usd_month" rows (monthly price ÷ GB) where an item has both."""
    return derive_ratio(df, PRICE_PER_GB, COLUMNS)
