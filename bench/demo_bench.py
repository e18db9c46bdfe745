"""The demo's own rows: end to end per code-sandbox tier with phases, state size, checkpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.pipeline import PHASES, DemoRun, demo_in_process, demo_subprocess
from bench.report import Result

DEMO_TARGET = "target (gvisor) ≤ 8 s warm"
ANALYST_TARGET = "target ≤ 1.5×"


@dataclass
class DemoRuns:
    """In-process demo runs made once and shared by `demo_wall`, `state_bytes`, `checkpoint`."""

    repeats: int
    details: dict[str, Any]
    _runs: list[DemoRun] | None = field(default=None, repr=False)

    def get(self) -> list[DemoRun]:
        """The runs (made on first use)."""
        if self._runs is None:
            self._runs = [asyncio.run(demo_in_process()) for _ in range(self.repeats)]
            self.details["demo_in_process"] = [
                {k: v for k, v in vars(r).items() if k != "extra"}
                | {"extra": {k: v for k, v in r.extra.items() if k != "checkpoint_ms"}}
                for r in self._runs
            ]
        return self._runs


def _series(
    bench: str, metric: str, values: list[float | None], anchor: str = "", key: str = ""
) -> Result:
    return Result(bench, metric, "s", [v for v in values if v is not None], anchor, key)


def demo_tiers(
    repeats: int,
    tiers: list[str],
    details: dict[str, Any],
    run: Callable[..., DemoRun] | None = None,
) -> list[Result]:
    """`flotilla demo --json` per tier, warm (one run first, not counted), with its phases."""
    run = run or demo_subprocess
    out: list[Result] = []
    analyse: dict[str, list[float]] = {}
    for tier in tiers:
        run(tier)  # warm: page cache, the tier's snapshot
        subs = [run(tier) for _ in range(repeats)]
        details[f"demo_subprocess_{tier}"] = [vars(r) for r in subs]
        default = " (default)" if tier == tiers[0] else ""
        wall = [r.wall_s for r in subs]
        anchor = DEMO_TARGET if default else ""
        metric = f"`flotilla demo --json` on {tier}{default}, subprocess wall"
        out.append(_series("demo_wall", metric, wall, anchor, f"demo.{tier}.wall"))
        for phase in PHASES:
            metric = f"{tier}: {phase} phase (from the progress lines)"
            values = [r.phases_s.get(phase) for r in subs]
            out.append(_series("demo_wall", metric, values, key=f"demo.{tier}.{phase}"))
        analyse[tier] = [r.phases_s["analyse"] for r in subs if "analyse" in r.phases_s]
    if {"gvisor", "bwrap"} <= analyse.keys() and analyse["gvisor"] and analyse["bwrap"]:
        pairs = zip(analyse["gvisor"], analyse["bwrap"], strict=False)
        ratio = Result("demo_wall", "analyst step gvisor / bwrap (run by run)", "×",
                       [g / b for g, b in pairs], ANALYST_TARGET, "demo.analyse_ratio")  # fmt: skip
        out.append(ratio)
    return out


def in_process(runs: list[DemoRun]) -> list[Result]:
    """The graph's share of the demo, in this process."""
    return [
        _series("demo_wall", "in-process: Runner.run start → end", [r.extra["graph_s"] for r in runs]),
        _series("demo_wall", "in-process: plan → analyst started (browse phase)",
                [r.extra["browse_phase_s"] for r in runs]),
        _series("demo_wall", "in-process: embedded Redis up", [r.extra["redis_start_s"] for r in runs]),
    ]  # fmt: skip


def state_bytes(runs: list[DemoRun]) -> list[Result]:
    """How big the checkpointed final state is, next to what the run wrote to disk."""
    first = runs[0].extra
    html = "raw HTML in state: " + ("YES" if any(r.extra["has_html"] for r in runs) else "none")

    def series(metric: str, name: str, anchor: str = "") -> Result:
        samples = [float(r.extra[name]) for r in runs]
        return Result("state_bytes", metric, "bytes", samples, anchor, f"state.{name}")

    return [
        series(f"final state via saver serde ({first['serde_type']})", "serde_bytes", html),
        series("final state as json.dumps(default=str)", "json_bytes"),
        series(f"largest field: {first['largest_key']!r}", "largest_key_bytes"),
        series(f"run dir on disk ({first['run_dir_files']} files)", "run_dir_bytes"),
        series("demo site files served (for scale)", "demo_site_bytes"),
    ]


def checkpoint(runs: list[DemoRun]) -> list[Result]:
    """Per-superstep checkpoint cost on the demo's real states (`bench.checkpoint_demo`)."""
    steps = runs[0].extra["supersteps"]
    out = []
    for name in ("redis", "memory"):
        samples = [ms for r in runs for ms in r.extra["checkpoint_ms"][name]]
        saver = "Redis saver" if name == "redis" else "InMemorySaver"
        out.append(Result("checkpoint", f"demo's real state, per superstep ({steps}), {saver}",
                          "ms", samples, key=f"checkpoint.demo.{name}"))  # fmt: skip
    redis, memory = (out[0].samples, out[1].samples)
    out.append(Result("checkpoint", "demo's real state: Redis − in-memory, superstep by superstep",
                      "ms", [a - b for a, b in zip(redis, memory, strict=True)],
                      key="checkpoint.demo.extra"))  # fmt: skip
    return out
