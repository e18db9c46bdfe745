"""Samples, their summary and the markdown/JSON forms the benchmark prints."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Result:
    """One measured quantity: its samples and what to read it against."""

    bench: str
    metric: str
    unit: str
    samples: list[float] = field(default_factory=list)
    anchor: str = ""
    key: str = ""
    """Stable name the README table cites (`bench.readme_table`); empty when no row cites it."""

    @property
    def n(self) -> int:
        """How many samples were taken."""
        return len(self.samples)

    def median(self) -> float:
        """The median sample (NaN when there is none)."""
        return statistics.median(self.samples) if self.samples else math.nan

    def p95(self) -> float:
        """Nearest-rank 95th percentile; with few samples this is the maximum."""
        if not self.samples:
            return math.nan
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    def to_json(self) -> dict[str, Any]:
        """The result with its summary, for `--json`."""
        out = asdict(self)
        out |= {"n": self.n, "median": self.median(), "p50": self.median(), "p95": self.p95()}
        out |= {"min": min(self.samples, default=math.nan)}
        out |= {"max": max(self.samples, default=math.nan)}
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def fmt(value: float, unit: str) -> str:
    """A number short enough for a table cell."""
    if math.isnan(value):
        return "–"
    if unit == "bytes":
        return f"{value:,.0f}"
    if unit == "×":
        return f"{value:.2f}×"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}" if unit == "s" else f"{value:.2f}"


def markdown(results: list[Result]) -> str:
    """The results as one markdown table, in the order they were measured."""
    lines = [
        "| bench | metric | n | median | p95 | min | max | unit | anchor / note |",
        "|---|---|--:|--:|--:|--:|--:|---|---|",
    ]
    for r in results:
        lo, hi = min(r.samples, default=math.nan), max(r.samples, default=math.nan)
        cells = [fmt(v, r.unit) for v in (r.median(), r.p95(), lo, hi)]
        lines.append(
            f"| {r.bench} | {r.metric} | {r.n} | {' | '.join(cells)} | {r.unit} | {r.anchor} |"
        )
    return "\n".join(lines)
