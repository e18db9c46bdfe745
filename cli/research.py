"""`flotilla research`: the whole pipeline, checkpointed (run by `graph.runner`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from cli.common import (
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_SERVICE,
    EXIT_USAGE,
    add_brain_options,
    add_common_options,
    add_memory_options,
    fail,
    limit,
    make_context,
    token_usage_lines,
)
from cli.errors import browser_problem, explain_text, urls_problem
from cli.live import LiveView, OnEvent, RunBoard, progress_view, recorder, save_svg
from demo_sites.demo import DemoRecord
from graph.runner import Runner, RunResult, ThreadError


def register(sub: Any) -> None:
    """Add `research` to the CLI."""
    research = sub.add_parser("research", help="research a question across sites")
    research.add_argument("question")
    research.add_argument(
        "--url", action="append", default=[], required=True, help="a site to research"
    )
    add_thread_options(research)
    research.add_argument("--max-subagents", type=limit("max_subagents"), default=None)
    research.add_argument("--max-parallel", type=limit("max_parallel"), default=None)
    research.add_argument(
        "--sandbox-tier", choices=["auto", "gvisor", "bwrap", "none", "agentcore"], default=None
    )
    research.add_argument(
        "--approve", action="store_true", help="show the plan and ask before any browser starts"
    )
    add_brain_options(research)
    add_common_options(research)
    add_record_option(research)
    research.set_defaults(handler=research_command)


def add_thread_options(parser: argparse.ArgumentParser) -> None:
    """--thread, --checkpoint-ttl and the memory's, for commands that start or continue a thread."""
    parser.add_argument(
        "--thread", default=None, help="thread id (default: a new one); an existing one continues"
    )
    parser.add_argument(
        "--checkpoint-ttl",
        type=limit("checkpoint_ttl_minutes"),
        default=None,
        metavar="MINUTES",
        help="expire the thread's checkpoints this long after last use (default: keep)",
    )
    add_memory_options(parser)


def ask_review(request: dict[str, Any], thread_id: str) -> Any:
    """Show the plan on stderr and read a person's answer; None when nobody can answer."""
    tasks = request["plan"]["tasks"]
    print(f"\nplan for thread {thread_id}:", file=sys.stderr)
    for number, task in enumerate(tasks, start=1):
        print(f"  {number}. {task['url']} — {task['goal']}", file=sys.stderr)
    print(
        "approve? [y]es / [n]o / numbers of the sites to keep (e.g. 1 3): ", end="", file=sys.stderr
    )
    try:
        answer = input().strip().lower()
    except EOFError:
        print(f"\nno answer: the plan waits; run `flotilla resume {thread_id}`", file=sys.stderr)
        return None
    if answer in ("y", "yes", ""):
        return True
    if answer in ("n", "no"):
        return False
    keep = {int(word) for word in answer.replace(",", " ").split() if word.isdigit()}
    return {"tasks": [task for number, task in enumerate(tasks, start=1) if number in keep]}


def print_result(output: dict[str, Any], *, as_json: bool) -> None:
    """The run's output: one JSON object, or the report path, charts and problems."""
    if as_json:
        print(json.dumps(output, indent=2))
        return
    print(f"\nReport: {output['report_path']}")
    if output.get("report_html"):
        print(f"HTML:   {output['report_html']}")
    for chart in output.get("charts") or []:
        print(f"Chart:  {chart}")
    if output.get("brain"):
        print(f"Brain:  {output['brain']}")
    for line in token_usage_lines(output.get("token_usage")):
        print(line)
    cost = output.get("cost") or {}
    if cost.get("available"):
        scope = str(cost["scope"])
        print(f"Cost:   {cost['total']:.4f} {cost['currency']} estimated: {scope.lower()} (report)")
    elif cost:
        print(f"Cost:   not estimated: {cost.get('reason', '')}")
    for error in output.get("errors") or []:
        print(f"Problem: {error}")
        fix = explain_text(error)
        if fix is not None:
            print(f"  fix: {fix}")


async def research_command(
    args: argparse.Namespace,
    *,
    allow_hosts: list[str] | None = None,
    demo: DemoRecord | None = None,
) -> int:
    """`flotilla research`: the whole pipeline."""
    from memory.backend import MemoryUnavailable
    from nodes.llm.chat import ModelUnavailable

    if not args.question.strip():
        return fail(
            "the question is empty: say what to research", as_json=args.json, code=EXIT_USAGE
        )
    ctx = make_context(args, allow_hosts=allow_hosts)
    problem = urls_problem(args.url)
    if problem is not None:
        return fail(problem, as_json=args.json, code=EXIT_USAGE)
    problem = await asyncio.to_thread(browser_problem)
    if problem is not None:
        return fail(problem, as_json=args.json, code=EXIT_SERVICE)
    board = RunBoard() if getattr(args, "record_svg", None) else None
    with progress_view(args) as (on_event, view):
        runner = cli_runner(recorder(on_event, board), view)
        try:
            result = await runner.run(args.question, args.url, ctx, thread=args.thread, demo=demo)
        except MemoryUnavailable as exc:
            return fail(str(exc), as_json=args.json, code=EXIT_SERVICE)
        except (ThreadError, ModelUnavailable) as exc:
            return fail(str(exc), as_json=args.json, code=EXIT_USAGE)
    return finish_run(result, args, view, board)


def finish_run(
    result: RunResult, args: argparse.Namespace, view: LiveView | None, board: RunBoard | None
) -> int:
    """The summary (live view), the output, the --record-svg picture; the exit status."""
    if view is not None:
        view.finish(result.output)
    print_result(result.output, as_json=args.json)
    if board is not None:
        save_svg(board, result.output, args.record_svg)
    return EXIT_OK if result.usable else EXIT_NOTHING


def add_record_option(parser: argparse.ArgumentParser) -> None:
    """--record-svg: the run's live view, last frame and summary, saved as an SVG picture."""
    parser.add_argument(
        "--record-svg",
        default=None,
        metavar="PATH",
        help="save the live view's last frame and the summary as an SVG picture",
    )


def cli_runner(on_event: OnEvent | None = None, view: LiveView | None = None) -> Runner:
    """The runner the commands share: progress to `on_event`, plan reviews asked on stdin.

    With the live view drawn, it steps aside while a person answers the plan review.
    """
    if view is None:
        return Runner(on_event=on_event, review=ask_review)
    live = view

    def review(request: dict[str, Any], thread_id: str) -> Any:
        with live.paused():
            return ask_review(request, thread_id)

    return Runner(on_event=on_event, review=review)
