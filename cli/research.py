"""`flotilla research`: the whole pipeline, checkpointed in Redis (run by `graph.runner`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.common import (
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_SERVICE,
    EXIT_USAGE,
    ProgressPrinter,
    add_brain_options,
    add_common_options,
    fail,
    limit,
    make_context,
    token_usage_lines,
)
from demo_sites.demo import DemoRecord
from graph.runner import Runner, ThreadError


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
    research.set_defaults(handler=research_command)


def add_thread_options(parser: argparse.ArgumentParser) -> None:
    """--thread and --checkpoint-ttl, for commands that start or continue a thread."""
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
    for chart in output.get("charts") or []:
        print(f"Chart:  {chart}")
    if output.get("brain"):
        print(f"Brain:  {output['brain']}")
    for line in token_usage_lines(output.get("token_usage")):
        print(line)
    for error in output.get("errors") or []:
        print(f"Problem: {error}")


async def research_command(
    args: argparse.Namespace,
    *,
    allow_hosts: list[str] | None = None,
    demo: DemoRecord | None = None,
) -> int:
    """`flotilla research`: the whole pipeline."""
    from memory.redis_server import RedisUnavailable
    from nodes.llm.chat import ModelUnavailable

    if not args.question.strip():
        return fail(
            "the question is empty: say what to research", as_json=args.json, code=EXIT_USAGE
        )
    ctx = make_context(args, allow_hosts=allow_hosts)
    ctx.checkpoint_ttl_minutes = args.checkpoint_ttl
    try:
        result = await cli_runner().run(args.question, args.url, ctx, thread=args.thread, demo=demo)
    except RedisUnavailable as exc:
        return fail(str(exc), as_json=args.json, code=EXIT_SERVICE)
    except (ThreadError, ModelUnavailable) as exc:
        return fail(str(exc), as_json=args.json, code=EXIT_USAGE)
    print_result(result.output, as_json=args.json)
    return EXIT_OK if result.usable else EXIT_NOTHING


def cli_runner() -> Runner:
    """The runner the commands share: progress lines on stderr, plan reviews asked on stdin."""
    return Runner(on_event=ProgressPrinter(), review=ask_review)
