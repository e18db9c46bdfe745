"""`flotilla research` and `flotilla demo`: the whole pipeline, checkpointed in Redis."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from cli.common import (
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_SERVICE,
    EXIT_USAGE,
    ProgressPrinter,
    add_common_options,
    fail,
    make_context,
)
from graph.context import Context

DEMO_QUESTION = "Compare the monthly price and storage of each vendor's plans"


def register(sub: Any) -> None:
    """Add `research` and `demo` to the CLI."""
    research = sub.add_parser("research", help="research a question across sites")
    research.add_argument("question")
    research.add_argument(
        "--url", action="append", default=[], required=True, help="a site to research"
    )
    research.add_argument("--thread", default=None, help="thread id (default: a new one)")
    research.add_argument("--max-subagents", type=int, default=None)
    research.add_argument("--max-parallel", type=int, default=None)
    research.add_argument("--sandbox-tier", choices=["auto", "bwrap", "none"], default=None)
    add_common_options(research)
    research.set_defaults(handler=research_command)
    demo = sub.add_parser("demo", help="research the bundled demo sites with the offline brain")
    demo.add_argument("--latency", type=float, default=0.0, help="added server latency, seconds")
    demo.add_argument("--thread", default=None)
    add_common_options(demo)
    demo.set_defaults(handler=demo_command)


def usable(output: dict[str, Any]) -> bool:
    """Whether the run produced anything useful: some subagent read something."""
    return any(s["status"] in ("ok", "partial") for s in output.get("subagents", []))


async def run_research(
    question: str, urls: list[str], ctx: Context, *, thread: str | None
) -> dict[str, Any]:
    """Run the graph with Redis checkpoints and memory; return the run's output."""
    from graph.builder import build_graph
    from memory.checkpoint import redis_saver
    from memory.insights import redis_store
    from memory.redis_server import redis_url

    thread_id = thread or f"run-{uuid.uuid4().hex[:12]}"
    config: Any = {"configurable": {"thread_id": thread_id}}
    printer = ProgressPrinter()
    async with redis_url() as url, redis_saver(url) as saver, redis_store(url) as store:
        app = build_graph(checkpointer=saver, store=store)
        stream = app.astream(
            {"question": question, "urls": urls}, config, context=ctx, stream_mode="custom"
        )
        async for event in stream:
            printer(event)
        state = await app.aget_state(config)
    keys = (
        "thread_id",
        "brain",
        "answer",
        "report_path",
        "charts",
        "sources",
        "subagents",
        "errors",
    )
    return {key: state.values.get(key) for key in keys}


def _print_result(output: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(output, indent=2))
        return
    print(f"\nReport: {output['report_path']}")
    for chart in output.get("charts") or []:
        print(f"Chart:  {chart}")
    for error in output.get("errors") or []:
        print(f"Problem: {error}")


async def research_command(
    args: argparse.Namespace, *, allow_hosts: list[str] | None = None
) -> int:
    """`flotilla research`: the whole pipeline."""
    from memory.redis_server import RedisUnavailable

    if not args.question.strip():
        return fail(
            "the question is empty: say what to research", as_json=args.json, code=EXIT_USAGE
        )
    ctx = make_context(args, allow_hosts=allow_hosts)
    try:
        output = await run_research(args.question, args.url, ctx, thread=args.thread)
    except RedisUnavailable as exc:
        return fail(str(exc), as_json=args.json, code=EXIT_SERVICE)
    _print_result(output, as_json=args.json)
    return EXIT_OK if usable(output) else EXIT_NOTHING


async def demo_command(args: argparse.Namespace) -> int:
    """`flotilla demo`: the bundled sites, served on loopback and allow-listed by host and port."""
    from demo_sites.server import DemoSites

    with DemoSites(latency_s=args.latency) as sites:
        print(f"demo sites: {', '.join(sites.urls.values())}", file=sys.stderr)
        args.question, args.url = DEMO_QUESTION, list(sites.urls.values())
        args.max_subagents = args.max_parallel = args.sandbox_tier = None
        return await research_command(args, allow_hosts=sites.allow_hosts)
