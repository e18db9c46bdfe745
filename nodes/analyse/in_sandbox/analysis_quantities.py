"""Parse table cells into quantities and normalise them: money, data sizes, any physical unit.

It runs INSIDE the code-interpreter sandbox, shipped into the work dir beside
``analysis_runtime.py`` (the entry module), so it imports only the standard library, pandas,
numpy, matplotlib, pint and its sibling modules, never the Flotilla project.

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
* Any other physical unit (energy, distance, mass, power, speed, volume...) is read by pint
  (``analysis_units``): "0.625 kWh", "up to 120 km", "75 mi", "23.5 kg" are kind "measure"
  with the unit's dimension; ``normalise`` converts them to the dimension's display unit
  (Wh, km, kg, W, km/h, L...). A range ("60-80 km", "60 to 80 km") reads as its upper bound.
* "¥" is read as JPY. Money per something that is not a period ("$0.09/GB",
  "$8 per user / month") is kind "rate": USD per one unit of that thing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from analysis_units import canonical, convert, find_unit, parse_unit

Kind = Literal["money", "storage", "duration", "percent", "count", "rate", "measure"]
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


@dataclass(frozen=True)
class Quantity:
    """One parsed cell: a value with its kind, unit, currency and period.

    ``unit`` is the currency code for money, the byte unit for storage ("GB", "GiB"),
    the canonical duration unit ("ms", "s", "min", "h", "day"), "%" for percent, the
    noun for counts ("users", or "" when bare), the per-what unit for rates ("GB") and
    pint's unit name for measures ("kilowatt_hour"). ``dimension`` names what a measure
    measures ("energy", "length"); it is "" for the other kinds.
    """

    value: float
    kind: Kind
    unit: str
    currency: str | None = None
    period: Period | None = None
    dimension: str = ""


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
# The rest of a range after its first number: "-80 km", " to 80 km".
_RANGE_RE = re.compile(r"\s*(?:-|–|—|to)\s*(?P<num>\d+(?:[.,]\d+)?)(?![\d])", re.I)


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


def find_currency(text: str) -> tuple[str | None, str]:
    """The currency a cell names (symbol or ISO code) and the text with it blanked out."""
    symbol = _CURRENCY_SYMBOL_RE.search(text)
    if symbol:
        code = _SYMBOL_TO_CODE[symbol.group(1)]
        return code, text[: symbol.start()] + " " + text[symbol.end() :]
    iso = _CURRENCY_CODE_RE.search(text)
    if iso:
        return iso.group(1).upper(), text[: iso.start()] + " " + text[iso.end() :]
    return None, text


def find_period(rest: str) -> Period | None:
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
        period = period or find_period(rest[match.end() :])
        return Quantity(value, "rate", unit, currency, period)
    return Quantity(value, "money", currency, currency, find_period(rest))


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
    currency, rest_text = find_currency(text)
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
    upper = _RANGE_RE.match(rest)
    if upper and not match.group("mult"):  # a range: its upper bound ("up to")
        value, rest = max(value, _to_float(upper.group("num"))), rest[upper.end() :]
    if _PERCENT_RE.match(rest):
        return Quantity(value, "percent", "%", None, find_period(rest))
    storage = _STORAGE_RE.match(rest)
    if storage:
        tail = rest[storage.end() :]
        return Quantity(value, "storage", _storage_unit(storage), None, find_period(tail))
    duration = _DURATION_RE.match(rest)
    if duration:
        return Quantity(value, "duration", _duration_unit(duration.group("u")), None, None)
    measure = find_unit(rest) if _COUNT_PREFIX_RE.match(before) else None
    if measure is not None:
        unit = measure[0]
        return Quantity(value, "measure", unit.name, None, None, unit.dimension)
    count = _COUNT_RE.match(rest)
    if count and _COUNT_PREFIX_RE.match(before):
        noun = (count.group("noun") or "").strip().lower()
        return Quantity(value, "count", noun, None, None)
    return None


# --------------------------------------------------------------------------- normalising


def normalise(q: Quantity, fx_to_usd: Mapping[str, float] | None = None) -> Quantity | None:
    """Convert to comparable units; None when the currency has no rate in `fx_to_usd`.

    Money goes to USD (per month when periodic), storage to GB, durations to seconds.

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
    if q.kind == "measure":
        return normalise_measure(q)
    return q


def normalise_measure(q: Quantity) -> Quantity | None:
    """A measure in its dimension's display unit (a time becomes a duration in seconds).

    A dimension without a display unit keeps its unit; a failed conversion gives None.
    """
    target = canonical(q.dimension)
    if target is None:
        return q
    try:
        value = convert(q.value, q.unit, target)
    except Exception:  # pint's errors vary by version; an unconvertible cell is no value
        return None
    if q.dimension == "time":
        return Quantity(value, "duration", "s", None, None, "time")
    return replace(q, value=value, unit=target)


def header_unit(header: str) -> tuple[str, str] | None:
    """The physical unit a header names in brackets or after "in" ("Range (km)": km).

    Returns (pint unit name, dimension), or None when the header names none.
    """
    for text in re.findall(r"\(([^()]{1,20})\)|\[([^\[\]]{1,20})\]|\bin\s+(\S{1,12})$", header):
        spelled = next((t for t in text if t), "").strip()
        unit = parse_unit(spelled) if spelled and not _STORAGE_RE.fullmatch(spelled) else None
        if unit is not None:
            return unit.name, unit.dimension
    return None
