"""The live view, fed the progress events of real runs, drawn on a recording `rich` console.

`events/demo_run.json` and `events/mixed_run.json` are the "custom" stream of two real offline
runs through `graph.runner.Runner` (the demo sites; two of them plus a closed loopback port and
the cloud metadata address), recorded with `Runner(on_event=events.append)`.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from cli import logs
from cli.live import LiveView, RunBoard, save_svg, summary_table

EVENTS = Path(__file__).parent / "events"


def recorded(name: str) -> list[dict[str, Any]]:
    return json.loads((EVENTS / name).read_text())


def recording_console(width: int = 140) -> Console:
    return Console(record=True, width=width, file=io.StringIO(), force_terminal=True)


def rows(text: str) -> dict[str, list[str]]:
    """The table's rows by their first cell (site-N, analyst, report, memory)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if cells and (re.fullmatch(r"site-\d+", cells[0]) or cells[0] in STEPS):
            found.setdefault(cells[0], []).append(" | ".join(cells[1:]))
    return found


STEPS = ("analyst", "report", "memory")


def final_frame(events: list[dict[str, Any]]) -> str:
    """Drive a LiveView through `events` on a recording console; the last frame as text."""
    console = recording_console()
    with LiveView(console) as view:
        for event in events:
            view(event)
    last = recording_console()
    last.print(view.board)
    return last.export_text()


def test_the_demo_shows_one_row_per_subagent_each_done_then_analyst_report_and_memory() -> None:
    events = recorded("demo_run.json")
    frame = rows(final_frame(events))
    sites = next(e["tasks"] for e in events if e["event"] == "plan")
    subagents = {key: value for key, value in frame.items() if key.startswith("site-")}
    assert sorted(subagents) == ["site-1", "site-2", "site-3"]
    assert all(len(value) == 1 for value in frame.values()), "one row each"
    for number, site in enumerate(sites, start=1):
        site_cell, state, page, pages, elapsed = subagents[f"site-{number}"][0].split(" | ")
        assert site_cell == site and state == "done"
        last = [e for e in events if e.get("site") == site]
        assert int(pages) == last[-1]["pages"] and elapsed == f"{last[-1]['elapsed']:.1f}s"
        pages_read = [e["url"] for e in last if e.get("url")]
        assert pages_read[-1].endswith(page), "the page column shows the last page read"
    assert frame["analyst"][0].split(" | ")[1] == "done"
    assert "tier gvisor, 4 chart(s)" in frame["analyst"][0]
    assert "report.md" in frame["report"][0] and "17 insight(s)" in frame["memory"][0]


def test_failed_and_refused_subagents_keep_their_final_states() -> None:
    frame = rows(final_frame(recorded("mixed_run.json")))
    states = {key: value[0].split(" | ")[1] for key, value in frame.items()}
    assert states == {
        "site-1": "done",
        "site-2": "done",
        "site-3": "failed",
        "site-4": "refused",
        "analyst": "done",
        "report": "done",
        "memory": "done",
    }


def test_planned_subagents_are_queued_until_their_first_event() -> None:
    events = recorded("mixed_run.json")
    board = RunBoard()
    board.update(events[0])  # the plan
    board.update(events[1])  # site-1 started
    console = recording_console()
    console.print(board)
    text = console.export_text()
    states = {key: value[0].split(" | ")[1] for key, value in rows(text).items()}
    assert states["site-1"] == "running"
    assert [states[f"site-{n}"] for n in (2, 3, 4)] == ["queued"] * 3
    assert "4 subagent(s), 0 refused" in text


def test_the_llm_brain_adds_step_and_tokens_columns() -> None:
    board = RunBoard(clock=lambda: 100.0)
    site = "https://vendor.example/"
    board.update({"event": "plan", "tasks": [site], "refused": 0, "planner": "model-x"})
    for tool, calls, tokens in (("navigate", 1, 812), ("extract_tables", 2, 1690)):
        board.update(
            {
                "event": "subagent",
                "task_id": "site-1",
                "site": site,
                "state": "tool",
                "tool": tool,
                "url": site + "pricing",
                "tokens": tokens,
                "calls": calls,
                "elapsed": 1.5,
                "pages": 1,
            }
        )
    console = recording_console()
    console.print(board)
    text = console.export_text()
    assert "step" in text and "tokens" in text and "planned by model-x" in text
    row = rows(text)["site-1"][0]
    assert "2 extract_tables" in row and "1,690" in row and "/pricing" in row


def test_warnings_show_once_beneath_the_rows() -> None:
    logs.configure()
    console = recording_console()
    with LiveView(console) as view, logs.show_in(view.warn):
        for _ in range(3):
            logging.getLogger("sandbox.jail").warning("browser jail without its network namespace")
    last = recording_console()
    last.print(view.board)
    text = last.export_text()
    assert text.count("warning: browser jail without its network namespace") == 1


def test_the_summary_and_the_svg_name_every_subagent(tmp_path: Path) -> None:
    output = {
        "thread_id": "run-1",
        "subagents": [
            {"site": "http://a/", "name": "Alpha", "status": "ok", "pages": 2, "tables": 1,
             "elapsed_s": 3.2, "errors": []},
            {"site": "http://b/", "name": "", "status": "failed", "pages": 0, "tables": 0,
             "elapsed_s": 6.1, "errors": ["nothing answers at this address; check the URL"]},
        ],
    }  # fmt: skip
    console = recording_console()
    console.print(summary_table(output))
    text = console.export_text()
    assert "Alpha" in text and "done" in text and "failed" in text and "nothing answers" in text
    board = RunBoard()
    for event in recorded("demo_run.json"):
        board.update(event)
    save_svg(board, output, str(tmp_path / "live.svg"))
    svg = (tmp_path / "live.svg").read_text()
    assert svg.startswith("<svg") and "site-3" in svg


def test_progress_goes_to_plain_lines_off_a_terminal_and_nowhere_when_quiet() -> None:
    from argparse import Namespace

    from cli.common import ProgressPrinter
    from cli.live import progress_view

    # Under pytest stderr is captured, not a terminal: today's plain lines.
    with progress_view(Namespace(json=False, quiet=False)) as (on_event, view):
        assert isinstance(on_event, ProgressPrinter) and view is None
    with progress_view(Namespace(json=True, quiet=False)) as (on_event, view):
        assert isinstance(on_event, ProgressPrinter) and view is None
    with progress_view(Namespace(json=False, quiet=True)) as (on_event, view):
        assert on_event is None and view is None


async def test_the_view_steps_aside_for_the_plan_review_asked_in_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    import cli.research
    from cli.research import cli_runner

    console = recording_console()
    asked: list[bool] = []
    with LiveView(console) as view:
        runner = cli_runner(view, view)
        assert runner.review is not None

        def answer(request: dict[str, Any], thread_id: str) -> Any:
            asked.append(view._live.is_started)
            return True

        monkeypatch.setattr(cli.research, "ask_review", answer)
        decision = await asyncio.to_thread(runner.review, {"plan": {"tasks": []}}, "t")
        assert view._live.is_started, "drawing again after the answer"
    assert decision is True and asked == [False], "not drawn while the person answers"
