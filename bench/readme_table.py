"""The README's benchmark table, made from a results file (`make bench-readme`).

``.venv/bin/python -m bench.readme_table [--results PATH] [--readme PATH] [--check]``

Replaces what lies between ``<!-- bench-table -->`` and ``<!-- /bench-table -->`` in the README
with a table whose every figure is a p50 read from the results file by its ``key``, under a line
naming the commit, the command, the machine and its load. Nothing else in the README changes.
A row whose figures the file lacks shows "–" (and the command lists the missing keys).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results import LATEST, load

START = "<!-- bench-table -->"
END = "<!-- /bench-table -->"
README = Path(__file__).resolve().parent.parent / "README.md"
NS = (1, 2, 4, 8)
STARTS = (1, 4, 8)


@dataclass(frozen=True)
class Row:
    """One line of the table: its label, the keys of its figures (joined by " / "), a target."""

    label: str
    keys: tuple[str, ...]
    target: str = ""


def _per_n(prefix: str, ns: tuple[int, ...] = NS) -> tuple[str, ...]:
    return tuple(f"{prefix}.n{n}" for n in ns)


ROWS: tuple[Row, ...] = (
    Row("**fan-out**, own jailed Chromium each: browse wall, N = 1 / 2 / 4 / 8 sites "
        "(4 JS pages each, 0.3 s per request)", _per_n("fanout.own.wall")),
    Row("… its ratio to N = 1", _per_n("fanout.own.ratio"), "N=4 ≤ 1.3×, N=8 ≤ 2.0×"),
    Row("… speed-up over the same N subagents one after another", _per_n("fanout.own.speedup")),
    Row("… one shared Chromium, an isolated context each: wall", _per_n("fanout.shared.wall")),
    Row("… shared: ratio to N = 1", _per_n("fanout.shared.ratio")),
    Row("… price of isolation: own / shared wall", _per_n("fanout.isolation_price")),
    Row("… peak RSS of one subagent's browser tree (own Chromium)",
        _per_n("fanout.own.browser_rss")),
    Row("… peak RSS of the whole run: own / shared, N = 8",
        ("fanout.own.run_rss.n8", "fanout.shared.run_rss.n8")),
    Row("… CPU seconds of the whole run: own / shared, N = 8",
        ("fanout.own.cpu.n8", "fanout.shared.cpu.n8")),
    Row("one subagent over 4 pages / the sequential network floor (4 × 0.3 s)",
        ("fanout.one_vs_floor",), "≤ 1.6×"),
    Row("**context isolation** (demo): coordinator's context at its largest / raw text the "
        "subagents read / monolithic baseline, offline brain",
        ("context.offline.coordinator", "context.offline.raw", "context.offline.monolithic")),
    Row("… coordinator / raw text, offline brain / llm brain (scripted models)",
        ("context.offline.ratio", "context.llm.ratio"), "≤ 5%"),
    Row("… page sources the browsers loaded (HTML, XHR) / coordinator / that ratio, offline brain",
        ("context.offline.source", "context.offline.coordinator", "context.offline.ratio_source"),
        "≤ 5%"),
    Row("… monolithic baseline / coordinator, offline brain / llm brain",
        ("context.offline.monolithic_ratio", "context.llm.monolithic_ratio")),
    Row("`flotilla demo` end to end, warm, subprocess wall: gvisor (default) / bwrap",
        ("demo.gvisor.wall", "demo.bwrap.wall"), "gvisor ≤ 8 s"),
    Row("… phases on gvisor: plan / browse / analyse / report / remember",
        tuple(f"demo.gvisor.{p}" for p in ("plan", "browse", "analyse", "report", "remember"))),
    Row("… phases on bwrap: plan / browse / analyse / report / remember",
        tuple(f"demo.bwrap.{p}" for p in ("plan", "browse", "analyse", "report", "remember"))),
    Row("analyst step: gvisor / bwrap, and their ratio",
        ("demo.gvisor.analyse", "demo.bwrap.analyse", "demo.analyse_ratio"), "≤ 1.5×"),
    Row("code sandboxes started at once → first result, gvisor (restored), N = 1 / 4 / 8",
        _per_n("starts.gvisor", STARTS)),
    Row("… bwrap, N = 1 / 4 / 8", _per_n("starts.bwrap", STARTS)),
    Row("jailed browsers started at once → first page → closed, N = 1 / 4 / 8",
        _per_n("starts.browser", STARTS)),
    Row("browser sandbox ready (driver up; jailed)", ("browser.ready_warm",), "≤ 0.5 s"),
    Row("warm pool acquire → first result: gvisor / bwrap",
        ("pool.gvisor", "pool.bwrap"), "≤ 50 ms"),
    Row("embedded Redis 8.2 + JSON + Search, start → PING", ("redis.start",)),
    Row("checkpoint per superstep on the demo's real state: Redis / in-memory",
        ("checkpoint.demo.redis", "checkpoint.demo.memory")),
    Row("checkpoint per superstep, demo-shaped graph: Redis − in-memory",
        ("checkpoint.extra",), "≤ 2 ms"),
    Row("recall over 10,000 insights: words / words + meaning",
        ("recall.words", "recall.meaning"), "≤ 20 ms"),
    Row("final graph state of the demo (checkpointed) / run folder on disk",
        ("state.serde_bytes", "state.run_dir_bytes"), "no raw HTML in state"),
)  # fmt: skip


def index(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The file's results by key (results without a key are left out)."""
    return {row["key"]: row for row in data["results"] if row.get("key")}


def cell(row: dict[str, Any] | None) -> str:
    """One figure (its p50) with its unit, as the table shows it."""
    if row is None or row.get("p50") is None:
        return "–"
    value, unit = float(row["p50"]), row["unit"]
    if math.isnan(value):
        return "–"
    if unit == "×":
        return f"{value:.2f}×"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "bytes":
        return f"{value / 1000:,.1f} kB" if value < 10_000_000 else f"{value / 1e6:,.0f} MB"
    if unit == "MiB":
        return f"{value:,.0f} MiB"
    if unit == "tokens":
        return f"{value:,.0f} tokens"
    if unit == "s" and value < 1:
        return f"{value * 1000:.0f} ms"
    if unit == "ms" and value < 10:
        return f"{value:.2f} ms"
    precision = 1 if value < 100 else 0
    return f"{value:.{precision}f} {unit}"


def header(data: dict[str, Any], source: str = "bench/results/latest.json") -> str:
    """The line above the table: which command, commit, machine and load made it."""
    mach, ver = data["machine"], data["versions"]
    load = f"{mach['loadavg_start'][0]:.2f} → {mach['loadavg_end'][0]:.2f}"
    memory = mach["memory_bytes"] / 2**30
    return (
        f"Made by `{data['command']}` ({data['mode']} run, {data['started']}) at commit "
        f"`{data['commit']}` ({data['tree']} tree) on {mach['cores']} cores, {memory:.1f} GiB, "
        f"load average (1 min) {load}; {ver.get('chromium', '?')}, Python {ver['python']}. "
        f"Each figure is the p50 of its samples in `{source}` (min, p95 and "
        f"max are there too); `make bench-readme` rewrites this table from that file."
    )


def table(data: dict[str, Any], source: str = "bench/results/latest.json") -> tuple[str, list[str]]:
    """The block between the markers, and the keys the file lacked."""
    found = index(data)
    missing = [k for row in ROWS for k in row.keys if k not in found]
    lines = [header(data, source), "", "| what | p50 | target |", "|---|--:|---|"]
    for row in ROWS:
        figures = " / ".join(cell(found.get(k)) for k in row.keys)
        lines.append(f"| {row.label} | {figures} | {row.target or '—'} |")
    plots = sorted(data.get("plots") or [])
    if plots:
        lines += ["", " ".join(f"![{Path(p).stem}]({p})" for p in plots)]
    return "\n".join(lines), missing


def replace_block(readme: str, block: str) -> str:
    """`readme` with the text between the markers replaced by `block`."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        msg = f"the README has no {START} … {END} block"
        raise ValueError(msg)
    return readme[: start + len(START)] + "\n" + block + "\n" + readme[end:]


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(README.parent))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, compare) the README's benchmark table."""
    parser = argparse.ArgumentParser(prog="python -m bench.readme_table", description=__doc__)
    parser.add_argument("--results", type=Path, default=LATEST)
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    args = parser.parse_args(argv)
    block, missing = table(load(args.results), _shown(args.results))
    text = args.readme.read_text()
    new = replace_block(text, block)
    if missing:
        print(f"not in {args.results}: {', '.join(missing)}", file=sys.stderr)
    if args.check:
        return 0 if new == text else 1
    args.readme.write_text(new)
    print(f"{args.readme}: benchmark table rewritten from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
