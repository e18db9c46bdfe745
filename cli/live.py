"""The live view of a run in the terminal: one row per subagent, then the analyst and the report.

`RunBoard` keeps what the progress events (`nodes/progress.py`, LangGraph's "custom" stream)
have said so far — the same events `ProgressPrinter` prints as lines where no terminal shows
them. `LiveView` draws the board with `rich` while the run goes, shows warnings once beneath
it, and prints a summary table when the run ends.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cli import logs
from cli.common import ProgressPrinter

OnEvent = Callable[[dict[str, Any]], None]

# A subagent's final states are its Findings' status; "ok" shows as "done".
FINAL_STATES = {"ok": "done", "partial": "partial", "failed": "failed", "refused": "refused"}
STATE_STYLES = {
    "queued": "dim",
    "running": "cyan",
    "done": "green",
    "partial": "yellow",
    "failed": "red",
    "refused": "magenta",
    "skipped": "dim",
}


@dataclass
class SubagentRow:
    """What one subagent's events have said: its state, page, counts and time."""

    task_id: str
    site: str
    state: str = "queued"
    page: str = ""
    pages: int = 0
    tool: str = ""
    steps: int | None = None
    tokens: int | None = None
    elapsed: float = 0.0
    errors: int = 0
    started_at: float | None = None

    @property
    def finished(self) -> bool:
        """Whether the subagent reached a final state."""
        return self.state in FINAL_STATES.values()


@dataclass
class StepRow:
    """The analyst's, report's or memory's step: its state and a short note."""

    name: str
    state: str = "queued"
    note: str = ""
    started_at: float | None = None
    elapsed: float | None = None


@dataclass
class RunBoard:
    """The run as its progress events tell it (no drawing here: `LiveView` draws it)."""

    clock: Callable[[], float] = time.monotonic
    subagents: dict[str, SubagentRow] = field(default_factory=dict)
    steps: dict[str, StepRow] = field(
        default_factory=lambda: {name: StepRow(name) for name in ("analyst", "report", "memory")}
    )
    plan_note: str = ""
    warnings: list[str] = field(default_factory=list)

    def update(self, event: dict[str, Any]) -> None:
        """Fold one progress event into the board."""
        kind = event.get("event")
        if kind == "plan":
            self._plan(event)
        elif kind == "subagent":
            self._subagent(event)
        elif kind in ("analyst", "report", "remember"):
            self._step("memory" if kind == "remember" else str(kind), event)

    def warn(self, message: str) -> None:
        """Keep a warning to show beneath the rows (each once)."""
        if message not in self.warnings:
            self.warnings.append(message)

    def _plan(self, event: dict[str, Any]) -> None:
        tasks = event.get("tasks") or []
        for number, url in enumerate(tasks, start=1):
            self.subagents.setdefault(url, SubagentRow(task_id=f"site-{number}", site=url))
        planner = event.get("planner") or "offline"
        by = "" if planner == "offline" else f", planned by {planner}"
        self.plan_note = f"{len(tasks)} subagent(s), {event.get('refused', 0)} refused{by}"

    def _subagent(self, event: dict[str, Any]) -> None:
        site = str(event.get("site") or event.get("task_id"))
        row = self.subagents.setdefault(site, SubagentRow(str(event.get("task_id")), site))
        row.task_id = str(event.get("task_id") or row.task_id)
        state = str(event.get("state") or "")
        row.state = FINAL_STATES.get(state, "running")
        row.elapsed = float(event.get("elapsed") or 0.0)
        if row.started_at is None:
            row.started_at = self.clock() - row.elapsed
        row.pages = int(event.get("pages") or row.pages)
        if event.get("url"):
            row.page = str(event["url"])
        if event.get("tool"):
            row.tool = str(event["tool"])
        if isinstance(event.get("calls"), int):
            row.steps = event["calls"]
        if isinstance(event.get("tokens"), int):
            row.tokens = event["tokens"]
        row.errors = int(event.get("errors") or row.errors)

    def _step(self, name: str, event: dict[str, Any]) -> None:
        row = self.steps[name]
        state = str(event.get("state") or "")
        now = self.clock()
        if row.started_at is None and state not in ("done", "skipped"):
            row.started_at = now
        notes = {
            "analyst": _analyst_note(event),
            "report": _shown_path(str(event.get("path") or "")),
            "memory": _memory_note(event),
        }
        row.note = notes[name] or row.note
        if state in ("done", "skipped"):
            # A step that told only its end (report, memory) has no time of its own to show.
            row.state = state
            row.elapsed = None if row.started_at is None else now - row.started_at
        else:
            row.state = "running"

    def elapsed(self, row: SubagentRow | StepRow) -> float | None:
        """Seconds so far: frozen once finished, ticking while running."""
        if isinstance(row, SubagentRow):
            if row.finished or row.started_at is None:
                return row.elapsed if row.started_at is not None else None
            return self.clock() - row.started_at
        if row.elapsed is not None or row.started_at is None:
            return row.elapsed
        return self.clock() - row.started_at

    def table(self) -> Table:
        """The board as one table: subagents first, then the analyst, report and memory."""
        llm = any(row.tokens is not None or row.tool for row in self.subagents.values())
        title = f"flotilla — {self.plan_note}" if self.plan_note else "flotilla"
        table = Table(title=title, title_justify="left", expand=False)
        table.add_column("", no_wrap=True)
        table.add_column("site", no_wrap=True, max_width=34, overflow="ellipsis")
        table.add_column("state", no_wrap=True)
        table.add_column("page", max_width=44, overflow="ellipsis", no_wrap=True)
        table.add_column("pages", justify="right")
        if llm:
            table.add_column("step", no_wrap=True)
            table.add_column("tokens", justify="right")
        table.add_column("elapsed", justify="right")
        cells: list[str | Text]
        for row in self.subagents.values():
            cells = [row.task_id, row.site, _state(row.state), _path(row.page), str(row.pages)]
            if llm:
                calls = f"{row.steps or ''} {row.tool}".strip()
                cells += [calls, f"{row.tokens:,}" if row.tokens is not None else ""]
            table.add_row(*cells, _seconds(self.elapsed(row)))
        if not self.plan_note and all(s.state == "queued" for s in self.steps.values()):
            return table  # one subagent alone (`flotilla browse`): no analyst, no report
        table.add_section()
        for stage in self.steps.values():
            cells = [stage.name, "", _state(stage.state), stage.note, ""]
            if llm:
                cells += ["", ""]
            table.add_row(*cells, _seconds(self.elapsed(stage)))
        return table

    def __rich__(self) -> RenderableType:
        """The table and, beneath it, the warnings so far (re-drawn on every refresh)."""
        if not self.warnings:
            return self.table()
        notes = [Text(f"! {message}", style="yellow") for message in self.warnings]
        return Group(self.table(), *notes)


def _state(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


def _path(url: str) -> str:
    """A page as its path (the site is on the same row)."""
    if "://" not in url:
        return url
    rest = url.split("://", 1)[1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


def _shown_path(path: str) -> str:
    """A file path as short as it can be said: relative to the working folder when inside it."""
    if not path:
        return path
    absolute = Path(path).absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return path


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def _analyst_note(event: dict[str, Any]) -> str:
    parts = []
    if event.get("tier"):
        parts.append(f"tier {event['tier']}")
    if "charts" in event:
        parts.append(f"{event['charts']} chart(s)")
    if event.get("state") == "attempt":
        parts.append(f"attempt {event.get('attempt')} {'ok' if event.get('ok') else 'failed'}")
    return ", ".join(parts)


def _memory_note(event: dict[str, Any]) -> str:
    if "insights" in event:
        return f"{event['insights']} insight(s) kept"
    return str(event.get("reason") or "")


def summary_table(output: dict[str, Any]) -> Table:
    """The run's end: each subagent's status, pages, tables, time and first error."""
    table = Table(title=f"run {output.get('thread_id')}", title_justify="left")
    for name, justify in (
        ("site", "left"),
        ("status", "left"),
        ("pages", "right"),
        ("tables", "right"),
        ("elapsed", "right"),
        ("problem", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for sub in output.get("subagents") or []:
        errors = sub.get("errors") or []
        status = FINAL_STATES.get(sub.get("status", ""), sub.get("status", ""))
        table.add_row(
            sub.get("name") or sub.get("site", ""),
            _state(status),
            str(sub.get("pages", 0)),
            str(sub.get("tables", 0)),
            _seconds(sub.get("elapsed_s")),
            Text(errors[0] if errors else "", overflow="fold"),
        )
    return table


class LiveView:
    """Draws a `RunBoard` on a terminal while the run goes (an `on_event` for the Runner).

    `console`: where to draw (default: stderr). Use it as a context manager around the run;
    `paused()` clears the way for a prompt (the plan review), `finish()` prints the summary.
    """

    def __init__(self, console: Console | None = None, *, refresh_per_second: float = 4) -> None:
        self.console = console or Console(stderr=True)
        self.board = RunBoard()
        self._live = Live(
            self.board,
            console=self.console,
            refresh_per_second=refresh_per_second,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def __call__(self, event: dict[str, Any]) -> None:
        """Take one progress event and redraw."""
        self.board.update(event)
        self._live.refresh()

    def warn(self, message: str) -> None:
        """Show a warning (a log line) beneath the rows."""
        self.board.warn(message.removeprefix("flotilla: "))
        self._live.refresh()

    def __enter__(self) -> LiveView:
        """Start drawing."""
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop drawing, leaving the last frame on the terminal."""
        self._live.stop()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop drawing for a while (a prompt on the terminal), then carry on."""
        self._live.stop()
        try:
            yield
        finally:
            self._live.start()

    def finish(self, output: dict[str, Any]) -> None:
        """Print the summary table once the run has ended."""
        if output.get("subagents"):
            self.console.print(summary_table(output))


def save_svg(board: RunBoard, output: dict[str, Any], path: str, *, width: int = 112) -> None:
    """The run's last frame and its summary, as an SVG picture (for docs)."""
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=True)
    console.print(board)
    console.print(summary_table(output))
    console.save_svg(path, title="flotilla demo")


@contextmanager
def progress_view(args: argparse.Namespace) -> Iterator[tuple[OnEvent | None, LiveView | None]]:
    """Where a command's progress goes: the live view on a terminal, else plain lines.

    Plain lines (`ProgressPrinter`, unchanged) with --json or when stderr is not a terminal
    (CI, pipes); nothing with --quiet. While the live view is drawn, warnings show in it.
    """
    if getattr(args, "quiet", False):
        yield None, None
        return
    console = Console(stderr=True)
    if getattr(args, "json", False) or not console.is_terminal or console.is_dumb_terminal:
        yield ProgressPrinter(), None
        return
    with LiveView(console) as view, logs.show_in(view.warn):
        yield view, view


def recorder(on_event: OnEvent | None, board: RunBoard | None) -> OnEvent | None:
    """`on_event`, also folding each event into `board` (a run recorded for --record-svg)."""
    if board is None:
        return on_event

    def both(event: dict[str, Any]) -> None:
        board.update(event)
        if on_event is not None:
            on_event(event)

    return both
