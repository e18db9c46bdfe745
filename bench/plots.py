"""PNG plots made from a results file only (what the README shows beside its table).

``.venv/bin/python -m bench.plots [--results PATH]`` redraws them from an existing file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.results import LATEST, load

REPO = Path(__file__).resolve().parent.parent


def _p50(found: dict[str, dict[str, Any]], key: str) -> float | None:
    row = found.get(key)
    return None if row is None else row.get("p50")


def _series(found: dict[str, dict[str, Any]], prefix: str, ns: list[int]) -> tuple[list, list]:
    points = [(n, _p50(found, f"{prefix}.n{n}")) for n in ns]
    kept = [(n, v) for n, v in points if v is not None]
    return [n for n, _ in kept], [v for _, v in kept]


def _caption(data: dict[str, Any]) -> str:
    mach = data["machine"]
    return (
        f"{data['command']} at {data['commit']}, {mach['cores']} cores, "
        f"load {mach['loadavg_start'][0]:.1f}→{mach['loadavg_end'][0]:.1f}; p50 of each figure"
    )


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def draw(data: dict[str, Any], folder: Path) -> list[str]:
    """Write the plots this file has data for into `folder`; their paths from the repo root."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = {r["key"]: r for r in data["results"] if r.get("key")}
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    figures = [
        ("fanout.png", "Browse phase wall time against the number of sites (subagents)",
         "subagents (sites) at once", "seconds",
         [("own jailed Chromium each", "fanout.own.wall", [1, 2, 4, 8]),
          ("one shared Chromium, a context each", "fanout.shared.wall", [1, 2, 4, 8])]),
        ("starts.png", "Sandboxes started at once → first result",
         "sandboxes at once", "seconds",
         [("gVisor code session (restored)", "starts.gvisor", [1, 4, 8]),
          ("bwrap code session", "starts.bwrap", [1, 4, 8]),
          ("jailed Chromium (→ first page → closed)", "starts.browser", [1, 4, 8])]),
    ]  # fmt: skip
    for name, title, xlabel, ylabel, lines in figures:
        drawn = [(label, *_series(found, prefix, ns)) for label, prefix, ns in lines]
        drawn = [d for d in drawn if d[1]]
        if not drawn:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        for label, xs, ys in drawn:
            ax.plot(xs, ys, marker="o", label=label)
        if name == "fanout.png" and (seq := _sequential(data)):
            ax.plot(*zip(*seq, strict=True), linestyle=":", color="grey",
                    label="the same tasks one after another")  # fmt: skip
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.text(0.01, 0.01, _caption(data), fontsize=7, color="grey")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(folder / name)
        plt.close(fig)
        written.append(_relative(folder / name))
    written += _context(data, found, folder, plt)
    return written


def _sequential(data: dict[str, Any]) -> list[tuple[int, float]]:
    runs = (data.get("details") or {}).get("fanout", {}).get("runs", [])
    seq = next((r for r in runs if r.get("mode") == "sequential"), None)
    if not seq:
        return []
    return [(n, sum(seq["task_s"][:n])) for n in (1, 2, 4, 8) if n <= len(seq["task_s"])]


def _context(data: dict[str, Any], found: dict[str, Any], folder: Path, plt: Any) -> list[str]:
    brains = [b for b in ("offline", "llm") if f"context.{b}.coordinator" in found]
    if not brains:
        return []
    parts = (("coordinator", "coordinator's context at its largest"),
             ("raw", "raw text the subagents read"),
             ("monolithic", "monolithic baseline"))  # fmt: skip
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    width = 0.8 / len(parts)
    for i, (key, label) in enumerate(parts):
        values = [_p50(found, f"context.{b}.{key}") or 0 for b in brains]
        xs = [j + i * width for j in range(len(brains))]
        ax.bar(xs, values, width=width, label=label)
    ax.set_xticks([j + width for j in range(len(brains))], [f"{b} brain" for b in brains])
    tokenizer = found[f"context.{brains[0]}.coordinator"].get("anchor", "").split(" (")[0]
    ax.set(title="Context isolation on the demo", ylabel=f"tokens ({tokenizer or 'tokenizer?'})")
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, _caption(data), fontsize=7, color="grey")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(folder / "context.png")
    plt.close(fig)
    return [_relative(folder / "context.png")]


def main(argv: list[str] | None = None) -> int:
    """Redraw the plots from a results file."""
    parser = argparse.ArgumentParser(prog="python -m bench.plots", description=__doc__)
    parser.add_argument("--results", type=Path, default=LATEST)
    args = parser.parse_args(argv)
    for path in draw(load(args.results), args.results.parent):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
