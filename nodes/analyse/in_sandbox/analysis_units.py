"""Physical units through pint: which unit a cell's words name, its dimension, conversions.

It runs INSIDE the code-interpreter sandbox, shipped into the work dir beside
``analysis_runtime.py`` (the entry module), so it imports only the standard library, pint and
its sibling modules, never the Flotilla project. pint's default registry knows energy,
distance, mass, power, speed, volume, time and every other physical unit with its prefixes
and plural forms; this module decides which words after a number are a unit at all.

Decisions worth knowing:

* The registry is built once per process, on the first cell that needs it (~0.3-1 s of
  parsing pint's definitions), so tables of prices and storage alone never pay for it.
* English words pint also reads as units ("in" inch, "a" year, "at" technical atmosphere,
  "are", "point", "pm" picometre, "b" barn...) are not units here; neither is a
  dimensionless one. Data sizes (bytes, bits) are read by ``analysis_quantities`` instead:
  pint has no information dimension (a byte is dimensionless) and reads "Gb" as gilbert.
* Case is forgiven for common symbols written in the wrong case ("KWH", "Kg", "KM").
* Torque (N·m) has the dimension of energy; a unit built from a force is named "torque".
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

#: Words pint reads as a unit that, in a table cell, are far more often plain English.
NOT_UNITS = frozenset(
    {"in", "a", "at", "are", "point", "points", "pm", "am", "b", "Gb", "gb", "x", "line",
     "lines", "link", "links", "chain", "chains", "hand", "hands", "rod", "turn", "turns",
     "count", "percent", "pixel", "px", "dot", "dots", "cycle", "cycles", "mil"}
)  # fmt: skip
#: Spellings pint does not know, mapped to ones it does.
ALIASES = {"Nm": "N*m", "kph": "km/h", "kmh": "km/h", "kmph": "km/h", "cc": "cm**3"}
#: Symbols whose case pages get wrong ("KWH", "Kg"): the lower-case form maps to them.
_CASED_SYMBOLS = str.split(
    "Wh kWh MWh GWh mWh W kW MW mW hp km m cm mm mi ft yd kg g mg lb lbs oz t km/h mph "
    "L l mL ml cL dL gal h min s ms V mV kV A mA Ah mAh Hz kHz MHz GHz N kN Pa kPa bar psi "
    "J kJ MJ cal kcal lm lx"
)
_FOLD = {symbol.lower(): symbol for symbol in _CASED_SYMBOLS}

#: Dimension name -> the unit each metric of that dimension is shown in.
CANONICAL: dict[str, str] = {
    "energy": "Wh",
    "torque": "N·m",
    "length": "km",
    "mass": "kg",
    "power": "W",
    "speed": "km/h",
    "volume": "L",
    "area": "m²",
    "time": "s",
    "temperature": "°C",
    "frequency": "Hz",
    "pressure": "bar",
    "force": "N",
    "current": "A",
    "voltage": "V",
    "charge": "Ah",
}
#: pint spellings of the canonical units above (display form -> parseable form).
_PINT_NAME = {"N·m": "N*m", "m²": "m**2", "°C": "degC", "t": "metric_ton"}

_DIMENSIONS: dict[tuple[tuple[str, float], ...], str] = {
    (("[length]", 2.0), ("[mass]", 1.0), ("[time]", -2.0)): "energy",
    (("[length]", 1.0),): "length",
    (("[mass]", 1.0),): "mass",
    (("[length]", 2.0), ("[mass]", 1.0), ("[time]", -3.0)): "power",
    (("[length]", 1.0), ("[time]", -1.0)): "speed",
    (("[length]", 3.0),): "volume",
    (("[length]", 2.0),): "area",
    (("[time]", 1.0),): "time",
    (("[temperature]", 1.0),): "temperature",
    (("[time]", -1.0),): "frequency",
    (("[length]", -1.0), ("[mass]", 1.0), ("[time]", -2.0)): "pressure",
    (("[length]", 1.0), ("[mass]", 1.0), ("[time]", -2.0)): "force",
    (("[current]", 1.0),): "current",
    (("[current]", -1.0), ("[length]", 2.0), ("[mass]", 1.0), ("[time]", -3.0)): "voltage",
    (("[current]", 1.0), ("[time]", 1.0)): "charge",
}

# A unit as written: a word, maybe compound ("km/h", "N·m", "m²", "km per hour").
_UNIT_TEXT = re.compile(
    r"\s*(?P<unit>[A-Za-zµμ°Ω][A-Za-z0-9µμ°Ω²³]*(?:\s*(?:/|·|\*|\bper\b)\s*"
    r"[A-Za-zµμ°][A-Za-z0-9µμ²³]*)?)"
)
_PER = re.compile(r"\s*\bper\b\s*")


@dataclass(frozen=True)
class Unit:
    """A unit pint understood: as written, as pint names it, and its dimension's name."""

    written: str
    name: str
    dimension: str


@functools.cache
def registry() -> Any:
    """The default pint unit registry, built on first use (typed Any: pint is optional here)."""
    import pint

    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


def dimension_of(units: Any) -> str:
    """The dimension's name ("energy", "length"...) or pint's own text for other ones."""
    dims = tuple(sorted((str(k), float(v)) for k, v in dict(units.dimensionality).items()))
    name = _DIMENSIONS.get(dims, str(units.dimensionality))
    if name == "energy" and any(s in str(units) for s in ("newton", "force")):
        return "torque"
    return name


def _lookup(text: str) -> Unit | None:
    """Resolve one candidate unit text, or None when it is not a (useful) unit."""
    if not text or text in NOT_UNITS:
        return None
    import pint

    reg = registry()
    for spelling in dict.fromkeys((ALIASES.get(text, text), _FOLD.get(text.lower(), ""))):
        if not spelling:
            continue
        try:
            units = reg.parse_units(_PER.sub("/", spelling.replace("·", "*")))
        except (pint.errors.PintError, ValueError, TypeError, AttributeError, KeyError):
            continue
        if units.dimensionless:
            return None
        return Unit(text, str(units), dimension_of(units))
    return None


def find_unit(rest: str) -> tuple[Unit, int] | None:
    """The unit that starts ``rest`` (the text after a number) and the length it spans.

    The longest reading wins: "km/h" before "km", "km per hour" before "km"; a unit
    followed by other words ("120 km range") is the unit alone.
    """
    match = _UNIT_TEXT.match(rest)
    if match is None:
        return None
    whole = match.group("unit")
    first = re.match(r"[A-Za-z0-9µμ°Ω²³]+", whole)
    for candidate in dict.fromkeys((whole, first.group(0) if first else "")):
        unit = _lookup(candidate.strip())
        if unit is not None:
            return unit, match.start("unit") + len(candidate)
    return None


def parse_unit(text: str) -> Unit | None:
    """A whole text as a unit ("Wh", "km/h"), e.g. a header's "(kWh)" or a question's "per km"."""
    found = find_unit(text)
    return found[0] if found and not text[found[1] :].strip() else None


def convert(value: float, unit: str, to: str) -> float:
    """``value`` in ``unit`` expressed in ``to`` (each a display unit or a pint unit name)."""
    reg = registry()
    source, target = _PINT_NAME.get(unit, unit), _PINT_NAME.get(to, to)
    result = reg.Quantity(value, source).to(target).magnitude
    return float(result) if math.isfinite(float(result)) else math.nan


def canonical(dimension: str) -> str | None:
    """The unit a dimension's metrics are shown in, or None for an unusual dimension."""
    return CANONICAL.get(dimension)
