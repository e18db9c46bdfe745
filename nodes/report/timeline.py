"""The run as bars on one time axis: plan, each subagent, analyst, report.

The graph records every node run's wall-clock start and end in the state's `timeline`
(`graph/timeline.py`). A browser branch's bar is split: the time it waited for a browser slot
(`max_parallel`) and the time its subagent ran (`Findings.elapsed_s`, measured by the subagent,
counted back from the branch's end). The report node cannot see its own end, so its bar ends
when the report is rendered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from graph.models import Findings
from graph.state import PhaseSpan

PHASE_LABELS = {"coordinator": "plan", "analyst": "analyst", "report": "report"}
# Rows in this order (browsers by task id), so two runs of one plan list the same rows.
PHASE_ORDER = ("coordinator", "browser", "analyst", "report")
TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


@dataclass(frozen=True)
class Bar:
    """One row of the timeline, in seconds from the run's start and as percentages."""

    label: str
    phase: str
    status: str
    start_s: float
    end_s: float
    run_start_s: float
    left: float = 0.0
    width: float = 0.0
    wait_width: float = 0.0

    @property
    def took_s(self) -> float:
        """The row's length in seconds."""
        return self.end_s - self.start_s

    @property
    def waited_s(self) -> float:
        """Seconds the row waited before it ran (a browser waiting for its slot)."""
        return self.run_start_s - self.start_s


@dataclass(frozen=True)
class Timeline:
    """Every bar, the axis length and its ticks (percent, label)."""

    bars: list[Bar] = field(default_factory=list)
    total_s: float = 0.0
    ticks: list[tuple[float, str]] = field(default_factory=list)
    parallel: int = 0


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc or url
    except ValueError:
        return url


def last_run(spans: Sequence[Mapping[str, object]]) -> list[PhaseSpan]:
    """The spans of the thread's latest question: from its last plan onwards."""
    clean: list[PhaseSpan] = []
    for span in spans:
        try:
            clean.append(
                PhaseSpan(
                    phase=str(span["phase"]),
                    task_id=str(span.get("task_id") or ""),
                    start=float(span["start"]),  # type: ignore[arg-type]
                    end=float(span["end"]),  # type: ignore[arg-type]
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    plans = [s["start"] for s in clean if s["phase"] == "coordinator"]
    since = max(plans) if plans else -math.inf
    return [s for s in clean if s["start"] >= since and s["end"] >= s["start"]]


def build(
    spans: Sequence[Mapping[str, object]],
    findings: Sequence[Findings],
    *,
    report_start: float | None = None,
    now: float | None = None,
) -> Timeline:
    """The timeline of the latest run; empty when the state recorded no spans."""
    runs = [s for s in last_run(spans) if s["phase"] in PHASE_ORDER and s["phase"] != "report"]
    if report_start is not None and now is not None:
        runs.append(PhaseSpan(phase="report", task_id="", start=report_start, end=now))
    if not runs:
        return Timeline()
    by_task = {f.task_id: f for f in findings}
    latest: dict[tuple[str, str], PhaseSpan] = {}
    for span in runs:  # a node run twice (resumed) keeps its last run
        latest[(span["phase"], span["task_id"])] = span
    origin = min(s["start"] for s in latest.values())
    bars = [
        _bar(span, origin, by_task.get(span["task_id"]))
        for span in sorted(latest.values(), key=_order)
    ]
    total = max(max(b.end_s for b in bars), 1e-3)
    bars = [_placed(b, total) for b in bars]
    peak = _peak([(b.run_start_s, b.end_s) for b in bars if b.phase == "browser"])
    return Timeline(bars=bars, total_s=total, ticks=ticks(total), parallel=peak)


def _order(span: PhaseSpan) -> tuple[int, str]:
    return PHASE_ORDER.index(span["phase"]), span["task_id"]


def _bar(span: PhaseSpan, origin: float, finding: Findings | None) -> Bar:
    start, end = span["start"] - origin, span["end"] - origin
    run_start, status, label = start, "done", PHASE_LABELS.get(span["phase"], span["phase"])
    if span["phase"] == "browser":
        label = span["task_id"] or "subagent"
        if finding is not None:
            label = f"{finding.task_id} {finding.site_name or _host(finding.site)}"
            status = finding.status
            run_start = min(end, max(start, end - finding.elapsed_s))
    return Bar(label=label, phase=span["phase"], status=status, start_s=start, end_s=end,
               run_start_s=run_start)  # fmt: skip


def _placed(bar: Bar, total: float) -> Bar:
    pct = 100.0 / total
    width = max(bar.took_s * pct, 0.4)
    return Bar(
        **{k: getattr(bar, k) for k in ("label", "phase", "status", "start_s", "end_s")},
        run_start_s=bar.run_start_s,
        left=round(bar.start_s * pct, 3),
        width=round(width, 3),
        wait_width=round(min(bar.waited_s * pct, width), 3),
    )


def ticks(total: float, most: int = 8) -> list[tuple[float, str]]:
    """Round tick marks along an axis of `total` seconds, at most `most` + 1 of them."""
    step = next((s for s in TICK_STEPS if total / s <= most), TICK_STEPS[-1])
    out, at = [], 0.0
    while at <= total + 1e-9:
        out.append((round(at / total * 100, 3), f"{at:g} s"))
        at += step
    return out


def _peak(intervals: Sequence[tuple[float, float]]) -> int:
    """Most intervals open at once."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    peak = now = 0
    for _, delta in events:
        now += delta
        peak = max(peak, now)
    return peak
