"""Turn scraped vendor tables into a normalised comparison, charts and highlights.

This module runs INSIDE the code-interpreter sandbox: its source is copied there as
``analysis_runtime.py`` next to a small driver script. It must therefore stay
self-contained: it imports only the standard library, pandas, numpy and matplotlib,
never the Flotilla project (the sandbox has no copy of it).

Pipeline (``run``):

1. ``load_manifest`` reads ``manifest.json`` (question, optional FX overrides, tables).
2. ``build_comparison`` reads each CSV (every cell is verbatim page text), finds the label
   column and the numeric columns (``classify_column``), parses cells (``parse_quantity``),
   normalises them (``normalise``: money to USD per month, storage to GB, durations to
   seconds) and returns one long table: site, item, metric, label, value, unit, raw,
   source_url. Columns from different sites join on the metric key, whatever their headers.
3. ``draw_charts`` writes one bar chart per metric, ``highlights`` computes short
   comparisons, and ``run`` writes ``comparison.csv``, ``charts/*.png`` and ``summary.json``.

Parsing decisions worth knowing:

* ``parse_quantity`` is faithful to the cell: "0.5 TB" is 0.5 TB, "£99 per year" is 99 GBP
  per year. Conversion happens in ``normalise`` (it needs the FX table).
* "Free" (no digits) is money 0 with no currency and no period; a column of monthly prices
  counts it as 0 USD/month. "$0" behaves the same way.
* Placeholders ("—", "-", "n/a", empty) are *empty* cells; words such as "Unlimited",
  "Contact us", "Yes" are non-empty cells that do not parse. Both return None.
* "1,024" is one thousand and twenty-four (comma followed by exactly three digits);
  "7,50" is seven and a half. A single dot is always a decimal point ("1.024" is 1.024).
* KB/MB/GB/TB/PB are decimal (1 TB = 1000 GB); KiB/MiB/GiB/TiB/PiB are binary
  (1 GiB = 1.073741824 GB). Bits ("Gbps") are not storage.
* "¥" is read as JPY. Money per something that is not a period ("$0.09/GB",
  "$8 per user / month") is kind "rate": USD per one unit of that thing.
"""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

Kind = Literal["money", "storage", "duration", "percent", "count", "rate"]
Period = Literal["month", "year", "hour", "day"]

#: Fixed reference rates, USD per one unit of the currency (approximate 2024 averages,
#: rounded). They are NOT live rates: a run that needs today's rates passes its own table
#: (``fx_to_usd`` in the manifest, merged over this one).
FX_TO_USD: dict[str, float] = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "JPY": 0.0066,
    "CHF": 1.13,
    "CAD": 0.73,
    "AUD": 0.66,
    "NZD": 0.61,
    "INR": 0.012,
    "CNY": 0.14,
    "SEK": 0.095,
    "NOK": 0.093,
    "DKK": 0.145,
    "PLN": 0.25,
    "BRL": 0.19,
    "MXN": 0.055,
    "SGD": 0.75,
    "HKD": 0.128,
    "KRW": 0.00073,
}

#: Multipliers that turn a value per period into a value per month (730 h = 8760 h / 12).
PER_MONTH: dict[str, float] = {"month": 1.0, "year": 1 / 12, "hour": 730.0, "day": 365 / 12}

#: Gigabytes in one unit (decimal prefixes are SI, "i" prefixes are binary).
GB_PER_UNIT: dict[str, float] = {
    "KB": 1e-6,
    "MB": 1e-3,
    "GB": 1.0,
    "TB": 1e3,
    "PB": 1e6,
    "KiB": 1024 / 1e9,
    "MiB": 1024**2 / 1e9,
    "GiB": 1024**3 / 1e9,
    "TiB": 1024**4 / 1e9,
    "PiB": 1024**5 / 1e9,
}

#: Seconds in one unit of each duration.
SECONDS_PER_UNIT: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "min": 60.0,
    "h": 3600.0,
    "day": 86400.0,
    "week": 7 * 86400.0,
    "month": 730 * 3600.0,
    "year": 8760 * 3600.0,
}

#: A column is numeric when at least this share of its non-empty cells parse to one kind.
MAJORITY = 0.6
#: Rows shown in the markdown table of ``summary.json``; the CSV always has all of them.
MARKDOWN_MAX_ROWS = 40
COLUMNS = ["site", "item", "metric", "label", "value", "unit", "raw", "source_url"]
PRICE_METRIC = "price_usd_month"
STORAGE_METRIC = "storage_gb"
PRICE_PER_GB_METRIC = "price_per_gb_usd_month"


@dataclass(frozen=True)
class Quantity:
    """One parsed cell: a value with its kind, unit, currency and period.

    ``unit`` is the currency code for money, the byte unit for storage ("GB", "GiB"),
    the canonical duration unit ("ms", "s", "min", "h", "day"), "%" for percent, the
    noun for counts ("users", or "" when bare) and the per-what unit for rates ("GB").
    """

    value: float
    kind: Kind
    unit: str
    currency: str | None = None
    period: Period | None = None


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


# --------------------------------------------------------------------------- parsing

_PLACEHOLDERS = {"", "-", "—", "–", "‐", "n/a", "na", "n.a.", "none", "null", "nan", "?", "tbd"}
_CURRENCY_SYMBOL_RE = re.compile(r"(US\$|CA\$|C\$|AU\$|A\$|NZ\$|S\$|HK\$|R\$|\$|€|£|¥|₹|₩)")
_SYMBOL_TO_CODE = {
    "US$": "USD",
    "CA$": "CAD",
    "C$": "CAD",
    "AU$": "AUD",
    "A$": "AUD",
    "NZ$": "NZD",
    "S$": "SGD",
    "HK$": "HKD",
    "R$": "BRL",
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
}
_CURRENCY_CODE_RE = re.compile(r"(?<![A-Za-z])(" + "|".join(FX_TO_USD) + r")(?![A-Za-z])", re.I)
_NUMBER_RE = re.compile(
    r"(?:(?<![\w.,])(?P<sign>[-−]))?(?<![\w.,])"
    r"(?P<num>\d{1,3}(?:[,.]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?|[.,]\d+)"
    r"(?:\s*(?P<mult>k|K|thousand|M|mn|million|bn|B|billion)(?![\w]))?"
)
_MULTIPLIERS = {
    "k": 1e3,
    "K": 1e3,
    "thousand": 1e3,
    "M": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "bn": 1e9,
    "B": 1e9,
    "billion": 1e9,
}
_PERIOD_WORDS: dict[str, Period] = {
    "mo": "month",
    "mos": "month",
    "mon": "month",
    "mth": "month",
    "month": "month",
    "months": "month",
    "yr": "year",
    "yrs": "year",
    "y": "year",
    "year": "year",
    "years": "year",
    "annum": "year",
    "hr": "hour",
    "hrs": "hour",
    "h": "hour",
    "hour": "hour",
    "hours": "hour",
    "d": "day",
    "day": "day",
    "days": "day",
}
_PER_RE = re.compile(
    r"(?:/|\bper\b|\ba\b|\beach\b|\bevery\b)\s*(?P<n>\d[\d,.]*\s*(?:k|K|M|thousand|million)?\s+)?"
    r"(?P<word>[A-Za-z]+(?:-[A-Za-z]+)?)",
)
_ADVERB_RE = re.compile(r"\b(monthly|annually|annual|yearly|hourly|daily)\b", re.I)
_ADVERB_PERIOD: dict[str, Period] = {
    "monthly": "month",
    "annually": "year",
    "annual": "year",
    "yearly": "year",
    "hourly": "hour",
    "daily": "day",
}
_STORAGE_RE = re.compile(
    r"\s*(?:(?P<p>[kmgtp])(?P<i>i)?b(?:ytes?)?|(?P<word>kilo|mega|giga|tera|peta|kibi|mebi|gibi|tebi|pebi)bytes?)(?![\w])",
    re.I,
)
_PREFIX_WORD = {"kilo": "K", "mega": "M", "giga": "G", "tera": "T", "peta": "P"}
_BINARY_WORD = {"kibi": "K", "mebi": "M", "gibi": "G", "tebi": "T", "pebi": "P"}
_DURATION_RE = re.compile(
    r"\s*-?\s*(?P<u>ms|msec|millis(?:econds?)?|milliseconds?|s|secs?|seconds?|mins?|minutes?"
    r"|h|hrs?|hours?|d|days?|wks?|weeks?|months?|yrs?|years?)(?![\w])",
    re.I,
)
_DURATION_UNIT = {
    "ms": "ms",
    "msec": "ms",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "min": "min",
    "mins": "min",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "d": "day",
    "wk": "week",
    "wks": "week",
    "yr": "year",
    "yrs": "year",
}
_PERCENT_RE = re.compile(r"\s*(%|percent\b|pct\b)", re.I)
_COUNT_RE = re.compile(
    r"\s*(?P<noun>[A-Za-z][A-Za-z\-]*(?:\s+[A-Za-z][A-Za-z\-]*)?)?\s*(?P<tail>[(,;+*].*)?$"
)
_COUNT_PREFIX_RE = re.compile(
    r"^(?:up\s*to|from|starting\s+(?:at|from)|starts\s+at|only|just|approx\.?|about|around|"
    r"~|≈|<|>|≤|≥|<=|>=|max\.?|maximum|min\.?|minimum|at\s+least|as\s+low\s+as|\+)?\s*$",
    re.I,
)
_FREE_RE = re.compile(r"^\s*free\b", re.I)


def is_placeholder(cell: str) -> bool:
    """True for cells that mean "no value here" ("", "—", "-", "n/a")."""
    return cell.strip().lower() in _PLACEHOLDERS


def _clean(cell: str) -> str:
    """Unify spaces and minus signs and drop digit-group spaces ("1 024" -> "1024")."""
    text = re.sub(r"(?<=\d)[\u202f\u2009'’](?=\d{3}\b)", "", cell)
    text = text.replace("\u00a0", " ").replace("\u2009", " ").replace("\u202f", " ")
    return re.sub(r"\s+", " ", text).strip()


def _to_float(token: str) -> float:
    """Read a number written with either decimal convention ("1,024", "7,50", "1.234,56")."""
    if "," in token and "." in token:
        decimal = "," if token.rfind(",") > token.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        return float(token.replace(thousands, "").replace(decimal, "."))
    if "," in token:
        head, _, tail = token.rpartition(",")
        if token.count(",") == 1 and (len(tail) != 3 or head in {"", "0"}):
            return float(f"{head or '0'}.{tail}")
        return float(token.replace(",", ""))
    if token.count(".") > 1:
        return float(token.replace(".", ""))
    return float(token)


def _find_currency(text: str) -> tuple[str | None, str]:
    """The currency a cell names (symbol or ISO code) and the text with it blanked out."""
    symbol = _CURRENCY_SYMBOL_RE.search(text)
    if symbol:
        code = _SYMBOL_TO_CODE[symbol.group(1)]
        return code, text[: symbol.start()] + " " + text[symbol.end() :]
    iso = _CURRENCY_CODE_RE.search(text)
    if iso:
        return iso.group(1).upper(), text[: iso.start()] + " " + text[iso.end() :]
    return None, text


def _find_period(rest: str) -> Period | None:
    """The billing period a cell's tail names ("/mo", "per year", "billed annually")."""
    for match in _PER_RE.finditer(rest):
        word = match.group("word").lower().split("-")[-1]
        if word in _PERIOD_WORDS:
            return _PERIOD_WORDS[word]
    adverb = _ADVERB_RE.search(rest)
    return _ADVERB_PERIOD[adverb.group(1).lower()] if adverb else None


def _storage_unit(match: re.Match[str]) -> str:
    """Canonical byte unit ("GB", "GiB") for a storage-unit match."""
    word = match.group("word")
    if word:
        word = word.lower()
        if word in _BINARY_WORD:
            return f"{_BINARY_WORD[word]}iB"
        return f"{_PREFIX_WORD[word]}B"
    prefix = match.group("p").upper()
    return f"{prefix}iB" if match.group("i") else f"{prefix}B"


def _duration_unit(raw: str) -> str:
    """Canonical duration unit for a matched duration word ("mins" -> "min")."""
    word = raw.lower()
    if word in _DURATION_UNIT:
        return _DURATION_UNIT[word]
    for stem, unit in (
        ("milli", "ms"),
        ("sec", "s"),
        ("min", "min"),
        ("hour", "h"),
        ("day", "day"),
        ("week", "week"),
        ("month", "month"),
        ("year", "year"),
    ):
        if word.startswith(stem):
            return unit
    return word


def _singular(word: str) -> str:
    """A plain English singular for unit nouns ("requests" -> "request")."""
    word = word.lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _parse_money(value: float, currency: str, rest: str) -> Quantity:
    """Money or a money rate, given the number, its currency and the text after it."""
    for match in _PER_RE.finditer(rest):
        parts = match.group("word").split("-")
        head = parts[0]
        if head.lower() in _PERIOD_WORDS:
            break
        per_n = match.group("n")
        if per_n:
            number = _NUMBER_RE.search(per_n)
            if number:
                divisor = _to_float(number.group("num")) * _MULTIPLIERS.get(
                    number.group("mult") or "", 1.0
                )
                value = value / divisor if divisor else value
        storage = _STORAGE_RE.fullmatch(head)
        unit = _storage_unit(storage) if storage else _singular(head)
        period = _PERIOD_WORDS.get(parts[-1].lower()) if len(parts) > 1 else None
        period = period or _find_period(rest[match.end() :])
        return Quantity(value, "rate", unit, currency, period)
    return Quantity(value, "money", currency, currency, _find_period(rest))


def parse_quantity(cell: str) -> Quantity | None:
    """Parse one verbatim table cell into a `Quantity`, or None when it holds no number.

    Examples: "$9.99/mo" -> 9.99 USD/month; "€ 7,50 per month" -> 7.5 EUR/month;
    "1,024 GiB" -> 1024 GiB; "30%" -> 30 %; "120 ms" -> 120 ms; "5 users" -> 5 users;
    "Free" -> money 0 (no currency, no period); "—", "Unlimited", "Yes", "Contact us" -> None.
    The value is as written; `normalise` converts it.
    """
    text = _clean(str(cell))
    if is_placeholder(text):
        return None
    currency, rest_text = _find_currency(text)
    if currency is None and _FREE_RE.match(text):
        return Quantity(0.0, "money", "", None, None)
    match = _NUMBER_RE.search(rest_text)
    if match is None:
        return None
    value = _to_float(match.group("num")) * _MULTIPLIERS.get(match.group("mult") or "", 1.0)
    if match.group("sign"):
        value = -value
    before, rest = rest_text[: match.start()].strip(), rest_text[match.end() :]
    if currency is not None:
        return _parse_money(value, currency, rest)
    if len(before.split()) > 4:
        return None
    if _PERCENT_RE.match(rest):
        return Quantity(value, "percent", "%", None, _find_period(rest))
    storage = _STORAGE_RE.match(rest)
    if storage:
        tail = rest[storage.end() :]
        return Quantity(value, "storage", _storage_unit(storage), None, _find_period(tail))
    duration = _DURATION_RE.match(rest)
    if duration:
        return Quantity(value, "duration", _duration_unit(duration.group("u")), None, None)
    count = _COUNT_RE.match(rest)
    if count and _COUNT_PREFIX_RE.match(before):
        noun = (count.group("noun") or "").strip().lower()
        return Quantity(value, "count", noun, None, None)
    return None


# --------------------------------------------------------------------------- normalising


def normalise(q: Quantity, fx_to_usd: Mapping[str, float] | None = None) -> Quantity | None:
    """Convert to comparable units: money to USD (per month when periodic), storage to GB,
    durations to seconds. None when the currency has no rate in `fx_to_usd`.

    `fx_to_usd` maps ISO codes to USD per unit; it defaults to `FX_TO_USD`, which holds
    fixed reference rates (not live). Yearly money is divided by 12, hourly multiplied by
    730, daily by 365/12.
    """
    fx = {k.upper(): float(v) for k, v in (fx_to_usd or FX_TO_USD).items()}
    if q.kind in ("money", "rate"):
        if q.value == 0:
            rate = 1.0
        elif q.currency is None or q.currency not in fx:
            return None
        else:
            rate = fx[q.currency]
        value = q.value * rate * (PER_MONTH[q.period] if q.period else 1.0)
        per = "/month" if q.period else ""
        if q.kind == "money":
            return Quantity(value, "money", "USD" + per, "USD", "month" if q.period else None)
        unit = q.unit
        if unit in GB_PER_UNIT:
            value, unit = value / GB_PER_UNIT[unit], "GB"
        return Quantity(value, "rate", f"USD/{unit}{per}", "USD", "month" if q.period else None)
    if q.kind == "storage":
        value = q.value * GB_PER_UNIT.get(q.unit, 1.0)
        per = "/month" if q.period else ""
        return replace(q, value=value * (PER_MONTH[q.period] if q.period else 1.0), unit="GB" + per)
    if q.kind == "duration":
        return replace(q, value=q.value * SECONDS_PER_UNIT.get(q.unit, 1.0), unit="s")
    return q


def _slug(text: str) -> str:
    """Lower-case identifier text for metric keys and file names."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "value"


def metric_key(nq: Quantity, header: str = "") -> str:
    """The metric key of a normalised quantity, e.g. "price_usd_month", "storage_gb"."""
    month = "_month" if nq.period else ""
    if nq.kind == "money":
        return "price_usd" + month
    if nq.kind == "rate":
        per = nq.unit.removeprefix("USD/").removesuffix("/month")
        return f"rate_usd_per_{_slug(per)}{month}"
    if nq.kind == "storage":
        return "storage_gb" + ("_per_month" if nq.period else "")
    if nq.kind == "duration":
        return "duration_s"
    if nq.kind == "percent":
        return "percent" + ("_per_month" if nq.period else "")
    return "count_" + _slug(nq.unit or header)


def _header_hint(header: str, q: Quantity) -> Quantity:
    """Give a bare number the unit its header names ("Price (EUR/month)", "Storage (TB)").

    Also gives money without a period the header's period ("Monthly fee": "$5").
    """
    if q.kind == "money" and q.period is None:
        return replace(q, period=_header_period(header))
    if q.kind != "count" or q.unit:
        return q
    currency, _ = _find_currency(header)
    if currency is not None:
        return Quantity(q.value, "money", currency, currency, _header_period(header))
    unit = re.search(r"\b([KMGTP]i?B)\b", header)
    if unit and unit.group(1) in GB_PER_UNIT:
        return Quantity(q.value, "storage", unit.group(1), None, None)
    if "%" in header or re.search(r"\bpercent\b", header, re.I):
        return Quantity(q.value, "percent", "%", None, None)
    return q


def _header_period(header: str) -> Period | None:
    """The billing period a column header names ("Monthly fee", "Price / year")."""
    return _find_period(" " + header)


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
    key = keys.most_common(1)[0][0]
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
    """Read a manifest: {"question", "fx_to_usd" | null, "tables": [{site, source_url, path,
    caption}]}. Table paths are relative to the manifest's folder."""
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
        key = column.key if column.key not in seen else f"{column.key}__{_slug(header)}"
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
) -> pd.DataFrame:
    """One long table comparing every numeric column of every table.

    Columns: site, item (the label cell), metric (e.g. "price_usd_month"), label (the
    original header), value (normalised float), unit (normalised unit text), raw (the cell
    as shown), source_url. Columns join across sites by metric key whatever their headers.
    A derived "price_per_gb_usd_month" row is added for every item with both a monthly
    price and storage. Problems (unreadable tables, tables without numbers) become warning
    strings, appended to `warnings_out` and stored in ``df.attrs["warnings"]``.
    """
    fx = fx_to_usd or FX_TO_USD
    sink: list[str] = []
    rows: list[dict[str, Any]] = []
    for table in tables:
        frame = _read_table(table, sink)
        if frame is None:
            continue
        table_rows = _frame_rows(frame, table, fx)
        flipped = _transposed(frame) if not table_rows else None
        if flipped is not None:
            table_rows = _frame_rows(flipped, table, fx)
            if table_rows:
                sink.append(
                    f"{table.site}: {table.path.name!r} has plans as columns; read it transposed."
                )
        if not table_rows:
            sink.append(
                f"{table.site}: {table.path.name!r} ({table.caption or 'no caption'}) has no "
                f"numeric columns (headers: {', '.join(map(repr, frame.columns))}); it adds "
                "nothing to the comparison."
            )
        rows.extend(table_rows)
    df = add_price_per_gb(pd.DataFrame(rows, columns=COLUMNS).astype({"value": "float64"}))
    # Group rows by metric (first-seen order) so the CSV and markdown read metric by metric.
    order = {m: i for i, m in enumerate(dict.fromkeys(df["metric"].tolist()))}
    df = df.sort_values("metric", key=lambda s: s.map(order), kind="stable")
    df = df.reset_index(drop=True)
    df.attrs["warnings"] = list(sink)
    if warnings_out is not None:
        warnings_out.extend(sink)
    return df


def add_price_per_gb(df: pd.DataFrame) -> pd.DataFrame:
    """Add "price_per_gb_usd_month" rows (monthly price ÷ GB) where an item has both."""
    if df.empty or (df["metric"] == PRICE_PER_GB_METRIC).any():
        return df
    prices = df[df["metric"] == PRICE_METRIC].drop_duplicates(["site", "item"])
    storage = df[(df["metric"] == STORAGE_METRIC) & (df["value"] > 0)]
    storage = storage.drop_duplicates(["site", "item"])
    both = prices.merge(storage, on=["site", "item"], suffixes=("_p", "_s"))
    if both.empty:
        return df
    derived = pd.DataFrame(
        {
            "site": both["site"],
            "item": both["item"],
            "metric": PRICE_PER_GB_METRIC,
            "label": "price ÷ storage (derived)",
            "value": both["value_p"] / both["value_s"],
            "unit": "USD/GB/month",
            "raw": both["raw_p"] + " ÷ " + both["raw_s"],
            "source_url": both["source_url_p"],
        },
        columns=COLUMNS,
    )
    out = pd.concat([df, derived], ignore_index=True)
    out.attrs = dict(df.attrs)
    return out


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
        path = charts_dir / f"{_slug(metric) if '__' not in metric else metric}.png"
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


# --------------------------------------------------------------------------- entry point


def run(manifest_path: str, out_dir: str = "out") -> dict[str, Any]:
    """Compare the manifest's tables; write comparison.csv, charts/*.png, summary.json.

    Returns the summary: highlights, comparison_markdown, metrics, warnings, n_rows,
    charts (paths relative to `out_dir`), question and the FX table used.
    """
    started = time.perf_counter()
    manifest = read_manifest(manifest_path)
    fx = {**FX_TO_USD, **(manifest.fx_to_usd or {})}
    notes: list[str] = []
    df = build_comparison(manifest.tables, fx_to_usd=fx, warnings_out=notes)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "comparison.csv", index=False)
    charts = draw_charts(df, out)
    summary: dict[str, Any] = {
        "question": manifest.question,
        "highlights": highlights(df),
        "comparison_markdown": comparison_markdown(df),
        "metrics": list(dict.fromkeys(df["metric"].tolist())),
        "warnings": notes,
        "n_rows": len(df),
        "charts": [p.relative_to(out).as_posix() for p in charts],
        "fx_to_usd": fx,
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
