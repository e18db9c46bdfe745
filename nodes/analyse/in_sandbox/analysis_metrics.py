"""What a column measures: its metric key from header words and dimension, titles, ratios.

It runs INSIDE the code-interpreter sandbox, shipped into the work dir beside
``analysis_runtime.py`` (the entry module), so it imports only the standard library, pint
(through ``analysis_units``) and its sibling modules, never the Flotilla project.

Two columns join (share a metric key) only when their header words name the same thing
*and* their values have the same dimension: "Battery" in kWh and "Battery capacity" in Wh
join; "Capacity" in GB is storage while "Capacity" in Wh is a battery; "Max object size"
in GB stays apart from "Included storage". Words name the same thing when they fall in one
concept of a small generic vocabulary (``CONCEPTS``) or are the same words; a header whose
words say nothing ("Value", "") gives a metric of its own site, never merged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analysis_units import parse_unit


@dataclass(frozen=True)
class Concept:
    """A thing tables name in many words: its key, title, words, dimensions, extremes."""

    key: str
    title: str
    words: frozenset[str]
    dimensions: frozenset[str]
    low: str
    high: str


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _concept(key: str, title: str, words: str, dims: str, low: str, high: str) -> Concept:
    return Concept(key, title, frozenset(words.split()), frozenset(dims.split()), low, high)


#: The vocabulary: generic words for what product and pricing tables measure.
CONCEPTS = (
    _concept(
        "price",
        "Price",
        "price cost fee pricing charge rrp msrp subscription",
        "money rate",
        "Cheapest",
        "Most expensive",
    ),
    _concept(
        "storage",
        "Storage",
        "storage capacity space quota disk drive cloud",
        "information",
        "Least storage",
        "Most storage",
    ),
    _concept(
        "data_transfer",
        "Data transfer",
        "egress transfer bandwidth traffic outbound out data download upload",
        "information",
        "Least data transfer",
        "Most data transfer",
    ),
    _concept(
        "battery_capacity",
        "Battery capacity",
        "battery capacity pack accu akku energy",
        "energy charge",
        "Least battery capacity",
        "Most battery capacity",
    ),
    _concept(
        "range",
        "Range",
        "range distance reach autonomy mileage",
        "length",
        "Shortest range",
        "Longest range",
    ),
    _concept("weight", "Weight", "weight mass", "mass", "Lightest", "Heaviest"),
    _concept(
        "top_speed",
        "Top speed",
        "speed top velocity assist assisted",
        "speed",
        "Slowest",
        "Fastest",
    ),
    _concept(
        "power",
        "Power",
        "power motor output wattage rated peak nominal",
        "power",
        "Least power",
        "Most power",
    ),
    _concept("torque", "Torque", "torque motor", "torque", "Least torque", "Most torque"),
    _concept(
        "charging_time",
        "Charging time",
        "charging charge recharge time full",
        "time",
        "Fastest to charge",
        "Slowest to charge",
    ),
    _concept(
        "volume",
        "Volume",
        "volume tank cargo load capacity",
        "volume",
        "Least volume",
        "Most volume",
    ),
)

# Words that qualify a header without changing what it names ("Max range", "Included storage").
_NEUTRAL = _words(
    "the a an of per in with and or up to incl included including total approx approximately "
    "est estimated typical typ max maximum claimed official listed"
)
# Billing periods and currency or unit spellings in a header are not what it names.
_NOT_NAMES = _words(
    "month monthly mo year yearly annual annually yr week weekly day daily hour hourly "
    "usd eur gbp chf jpy gb tb mb kb gib tib wh kwh km kg lb lbs mi w kw l mph"
)
# Headers that say nothing about what their numbers are.
_VAGUE = _words("value values detail details spec specs specification info data number")


def dimension_of_kind(kind: str, dimension: str = "") -> str:
    """The dimension a quantity kind stands for ("storage": information, "measure": its own)."""
    return dimension or {"storage": "information", "duration": "time"}.get(kind, kind)


def header_words(header: str) -> list[str]:
    """The words of a header that name what it measures, singular, in order, no qualifiers."""
    text = re.sub(r"\([^()]*\)|\[[^\[\]]*\]", " ", header.lower())
    words = []
    for word in re.findall(r"[a-z]+", text):
        singular = word[:-1] if len(word) > 3 and word.endswith("s") and word[-2] != "s" else word
        singular = singular[:-2] + "y" if singular.endswith("ie") else singular
        if singular not in _NEUTRAL | _NOT_NAMES and singular not in words:
            words.append(singular)
    return words


def concept_for(words: list[str], dimension: str) -> Concept | None:
    """The concept every one of `words` belongs to, for this dimension; None if unclear."""
    if not words:
        return None
    for concept in CONCEPTS:
        if dimension in concept.dimensions and set(words) <= concept.words:
            return concept
    return None


def slug(text: str) -> str:
    """Lower-case identifier text for metric keys and file names."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "value"


def _named(words: list[str]) -> bool:
    return bool(words) and not set(words) <= _VAGUE


def metric_base(header: str, kind: str, dimension: str = "") -> str:
    """The first part of a metric key: the concept's key, or the header's own words.

    "" when the header names nothing (the caller keeps such a column to its own site).
    """
    words = header_words(header)
    concept = concept_for(words, dimension_of_kind(kind, dimension))
    if concept is not None:
        return concept.key
    return "_".join(words) if _named(words) else ""


def concept_of_key(key: str) -> Concept | None:
    """The concept a metric key was named after ("range_km": Range), if any."""
    base = key.partition("__")[0]
    for concept in sorted(CONCEPTS, key=lambda c: -len(c.key)):
        if base == concept.key or base.startswith(concept.key + "_"):
            return concept
    return None


def question_rank(question: str, metric: str, labels: list[str]) -> int:
    """How directly `question` asks about a metric: 0 a ratio it asks for, 1 named, 2 not.

    A metric is named when a question word is one of its concept's words or of its headers'.
    """
    asked = set(header_words(question))
    if metric.startswith("price_per_") and any(
        metric.startswith(f"price_per_{slug(r.unit)}_") for r in question_ratios(question)
    ):
        return 0
    found = concept_of_key(metric)
    words = set(found.words if found else ()) | {w for h in labels for w in header_words(h)}
    if found is not None and found.key == "price":
        words |= {"cheap", "cheapest", "cheaper", "expensive"}
    return 1 if words & asked else 2


@dataclass(frozen=True)
class Ratio:
    """A derived price ratio the question asks for: price per one `unit` of a dimension."""

    unit: str  # as the question wrote it ("Wh", "km", "GB")
    pint_unit: str
    dimension: str


_PERIODS = _words(
    "month mo year yr annum week day hour user seat person member plan licence license"
)
_PER_RE = re.compile(r"\bper\s+(?:an?\s+|one\s+|each\s+)?([A-Za-zµ²³/]+)", re.I)


def question_ratios(question: str) -> list[Ratio]:
    """The "price per <unit>" ratios a question implies ("cheapest per Wh", "price per km")."""
    ratios: list[Ratio] = []
    for token in _PER_RE.findall(question):
        if token.lower().rstrip("s") in _PERIODS:
            continue  # per month, per user: a billing basis, not a ratio of two metrics
        if re.fullmatch(r"[kmgtp]i?b", token, re.I):
            ratios.append(Ratio(token.upper().replace("IB", "iB"), "", "information"))
            continue
        unit = parse_unit(token)
        if unit is not None and unit.dimension != "time":
            ratios.append(Ratio(token, unit.name, unit.dimension))
    return list(dict.fromkeys(ratios))
