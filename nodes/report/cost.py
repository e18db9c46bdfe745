"""What a run cost, or would have cost on Amazon Bedrock AgentCore: the report's estimate.

The prices come from one file a user can update (``prices.toml`` beside this module, or the
file ``FLOTILLA_PRICES`` names), read once per change. The quantities are the run's own:

- **sandbox sessions** (browsers, code interpreters): AgentCore bills a session per second on
  its active CPU and its memory. For a local session the estimate uses what was measured here
  (``sandbox/usage.py``): the CPU seconds of its process tree for the CPU, and its resident
  memory integrated over the session for the memory (at least the file's minimum per second).
  For a remote session, whose CPU and memory AWS does not report back, it assumes the file's
  session size for the session's whole wall time (an upper bound);
- **memory events**: AgentCore Memory's short-term events the run's checkpoints take, counted
  from the graph's steps: ``AgentCoreMemorySaver`` makes one CreateEvent per checkpoint and one
  per task's writes;
- **model tokens**: the run's usage records, priced per model; a model without a price is shown
  with its tokens and left out of the total, which says so.

A price file that is missing or broken gives an estimate marked unavailable, with the reason.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph.models import ModelUsage, SandboxUsage

PRICES_ENV = "FLOTILLA_PRICES"
DEFAULT_PRICES = Path(__file__).with_name("prices.toml")
GIB = 2**30
LABELS = {"browser": "Browser sessions", "code_interpreter": "Code-interpreter sessions"}
MODEL = (
    "AgentCore bills a session per second on active CPU and memory: local sessions are priced "
    "on their measured CPU seconds and time-integrated resident memory; remote sessions (whose "
    "use AWS does not report back) on the price file's assumed session size for their wall "
    "time. Memory events are counted from the graph's steps; tokens from the run's usage."
)


class PriceFileError(ValueError):
    """The price file cannot be read or lacks a figure: says which file and what."""


@dataclass(frozen=True)
class Prices:
    """The figures of one price file."""

    path: str
    taken: str
    how: str
    urls: tuple[str, ...]
    currency: str
    vcpu_hour: float
    gb_hour: float
    min_memory_gb: float
    event_per_1000: float
    assumed: Mapping[str, tuple[float, float]]  # kind -> (vCPU, GB)
    models: Mapping[str, tuple[float, float]]  # name -> (input, output) per million tokens

    def model_price(self, model: str) -> tuple[str, tuple[float, float]] | None:
        """The longest listed name `model` contains, and its prices; None when none fits."""
        fits = [name for name in self.models if name and name in model]
        if not fits:
            return None
        name = max(fits, key=len)
        return name, self.models[name]


_CACHE: dict[tuple[str, bytes], Prices] = {}


def prices_path() -> Path:
    """The price file in use: ``$FLOTILLA_PRICES``, else the one shipped with Flotilla."""
    configured = os.environ.get(PRICES_ENV, "").strip()
    return Path(configured) if configured else DEFAULT_PRICES


def load_prices(path: Path | None = None) -> Prices:
    """The price file's figures (parsed again only when it changed); raises PriceFileError."""
    path = path or prices_path()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PriceFileError(f"price file {path} cannot be read: {exc.strerror}") from None
    key = (str(path), hashlib.sha256(raw).digest())
    if key not in _CACHE:
        _CACHE[key] = _parse(path, raw)
    return _CACHE[key]


def _parse(path: Path, raw: bytes) -> Prices:
    try:
        data = tomllib.loads(raw.decode())
        source, agentcore = data["source"], data["agentcore"]
        assumed = agentcore["assumed_session"]
        return Prices(
            path=str(path),
            taken=str(source["taken"]),
            how=str(source.get("how", "")),
            urls=tuple(str(u) for u in source["urls"]),
            currency=str(source.get("currency", "USD")),
            vcpu_hour=_number(agentcore, "vcpu_hour"),
            gb_hour=_number(agentcore, "gb_hour"),
            min_memory_gb=_number(agentcore, "min_memory_gb"),
            event_per_1000=_number(agentcore, "memory_event_per_1000"),
            assumed={
                kind: (_number(assumed, f"{kind}_vcpu"), _number(assumed, f"{kind}_memory_gb"))
                for kind in LABELS
            },
            models={
                str(name): (_number(p, "input_per_million"), _number(p, "output_per_million"))
                for name, p in data.get("models", {}).items()
            },
        )
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PriceFileError(f"price file {path} is not valid TOML: {exc}") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise PriceFileError(f"price file {path} lacks a figure: {exc}") from None


def _number(table: Mapping[str, Any], key: str) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise TypeError(f"{key} must be a number ≥ 0, not {value!r}")
    return float(value)


def memory_events(browser_tasks: int) -> int:
    """CreateEvents an AgentCore Memory checkpointer makes for one run of the graph.

    Steps: coordinator, the browsers (one step), analyst, report, remember; a checkpoint for
    the input and after each step, and one writes event per task (the input's included).
    """
    steps = 4 + (1 if browser_tasks else 0)
    tasks = 4 + browser_tasks
    return (steps + 1) + (tasks + 1)


def _line(item: str, quantity: float, unit: str, price: float, basis: str) -> dict[str, Any]:
    return {
        "item": item,
        "quantity": round(quantity, 9),
        "unit": unit,
        "unit_price": price,
        "cost": round(quantity * price, 9),
        "basis": basis,
    }


def _session_lines(kind: str, sessions: list[SandboxUsage], p: Prices) -> list[dict[str, Any]]:
    label = LABELS[kind]
    measured = [s for s in sessions if s.cpu_s is not None and s.rss_byte_s is not None]
    assumed = [s for s in sessions if s not in measured]
    lines = []
    if measured:
        wall = sum(s.wall_s for s in measured)
        cpu = sum(s.cpu_s or 0.0 for s in measured)
        gb_s = sum(max((s.rss_byte_s or 0.0) / GIB, p.min_memory_gb * s.wall_s) for s in measured)
        peak = max(s.peak_rss_bytes or 0 for s in measured) / 2**20
        n = f"{len(measured)} local session{'s' * (len(measured) != 1)}, {wall:.1f} s wall"
        lines += [
            _line(
                f"{label}: active CPU",
                cpu / 3600,
                "vCPU-hour",
                p.vcpu_hour,
                f"measured: {cpu:.1f} CPU seconds of the process trees ({n})",
            ),
            _line(
                f"{label}: memory",
                gb_s / 3600,
                "GB-hour",
                p.gb_hour,
                f"measured: resident memory over time, {gb_s:.1f} GB-seconds, peak "
                f"{peak:.0f} MiB ({n})",
            ),
        ]
    if assumed:
        vcpu, gb = p.assumed[kind]
        wall = sum(s.wall_s for s in assumed)
        where = sorted({s.tier or "unknown" for s in assumed})
        n = f"{len(assumed)} session{'s' * (len(assumed) != 1)} on {', '.join(where)}"
        lines += [
            _line(
                f"{label}: CPU (assumed size)",
                vcpu * wall / 3600,
                "vCPU-hour",
                p.vcpu_hour,
                f"assumed: {vcpu:g} vCPU for {wall:.1f} s wall ({n}; CPU not reported)",
            ),
            _line(
                f"{label}: memory (assumed size)",
                gb * wall / 3600,
                "GB-hour",
                p.gb_hour,
                f"assumed: {gb:g} GB for {wall:.1f} s wall ({n}; memory not reported)",
            ),
        ]
    return lines


def estimate(
    sandboxes: Iterable[SandboxUsage],
    usage: Iterable[ModelUsage],
    *,
    events: int,
    prices: Prices,
) -> dict[str, Any]:
    """The estimate's lines (quantity, unit, unit price, cost, basis), total and sources."""
    sessions = list(sandboxes)
    lines: list[dict[str, Any]] = []
    for kind in LABELS:
        lines += _session_lines(kind, [s for s in sessions if s.kind == kind], prices)
    lines.append(
        _line(
            "Memory: short-term events",
            events / 1000,
            "1,000 events",
            prices.event_per_1000,
            f"estimated: {events} CreateEvents for this run's checkpoints (one per step and "
            "one per task's writes)",
        )
    )
    unpriced = []
    tokens: dict[str, list[int]] = {}
    for record in usage:
        counts = tokens.setdefault(record.model, [0, 0])
        counts[0] += record.input_tokens
        counts[1] += record.output_tokens
    for model, (tokens_in, tokens_out) in sorted(tokens.items()):
        found = prices.model_price(model)
        if found is None:
            unpriced.append(
                f"model {model}: {tokens_in:,} input and {tokens_out:,} output tokens, no price "
                f"in the price file"
            )
            continue
        name, (price_in, price_out) = found
        for side, count, price in (
            ("input", tokens_in, price_in),
            ("output", tokens_out, price_out),
        ):
            lines.append(
                _line(
                    f"Model {model}: {side} tokens",
                    count / 1e6,
                    "million tokens",
                    price,
                    f"counted: {count:,} tokens (priced as {name})",
                )
            )
    remote = any(s.tier == "agentcore" for s in sessions)
    return {
        "available": True,
        "scope": "This run on AgentCore"
        if remote
        else "What this run would have cost on AgentCore (it ran on local sandboxes)",
        "model": MODEL,
        "currency": prices.currency,
        "lines": lines,
        "total": round(sum(line["cost"] for line in lines), 9),
        "unpriced": unpriced,
        "not_counted": [
            "long-term memory (the insights the remember step stores and recalls)",
            "AgentCore Runtime, if the graph itself runs there",
        ],
        "prices": {
            "file": prices.path,
            "taken": prices.taken,
            "how": prices.how,
            "sources": list(prices.urls),
        },
    }


def run_estimate(
    sandboxes: Iterable[SandboxUsage], usage: Iterable[ModelUsage], *, browser_tasks: int
) -> dict[str, Any]:
    """The run's estimate with the price file in use; marked unavailable when it is unusable."""
    try:
        prices = load_prices()
    except PriceFileError as exc:
        return {
            "available": False,
            "reason": f"{exc}; fix the file or point {PRICES_ENV} at a good one",
        }
    return estimate(sandboxes, usage, events=memory_events(browser_tasks), prices=prices)
