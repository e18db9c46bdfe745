"""`flotilla` — research sites from the command line, one subagent at a time or the whole fleet."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any

from graph.context import Context
from graph.models import SiteTask
from sandbox.egress import EgressRefused, validate_url

DEMO_QUESTION = "Compare the monthly price and storage of each vendor's plans"
EXIT_OK, EXIT_NOTHING, EXIT_USAGE, EXIT_SERVICE = 0, 1, 2, 3


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="allow a loopback/private host (refused by default)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--max-pages", type=int, default=None, help="pages per subagent")
    parser.add_argument("--runs-dir", default=None, help="where reports and artifacts go")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="flotilla", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    research = sub.add_parser("research", help="research a question across sites")
    research.add_argument("question")
    research.add_argument(
        "--url", action="append", default=[], required=True, help="a site to research"
    )
    research.add_argument("--thread", default=None, help="thread id (default: a new one)")
    research.add_argument("--max-subagents", type=int, default=None)
    research.add_argument("--max-parallel", type=int, default=None)
    research.add_argument("--sandbox-tier", choices=["auto", "bwrap", "none"], default=None)
    _common(research)
    browse = sub.add_parser("browse", help="run one browser subagent on one site")
    browse.add_argument("url")
    browse.add_argument("--goal", default="", help="what to look for (default: general overview)")
    _common(browse)
    demo = sub.add_parser("demo", help="research the bundled demo sites with the offline brain")
    demo.add_argument("--latency", type=float, default=0.0, help="added server latency, seconds")
    demo.add_argument("--thread", default=None)
    _common(demo)
    return parser


def make_context(args: argparse.Namespace, *, allow_hosts: list[str] | None = None) -> Context:
    """A `Context` from the defaults, the environment and the flags given."""
    ctx = Context()
    ctx.allow_hosts = [*ctx.allow_hosts, *(allow_hosts or []), *args.allow_host]
    for flag, name in (
        ("max_pages", "max_pages"),
        ("max_subagents", "max_subagents"),
        ("max_parallel", "max_parallel"),
        ("sandbox_tier", "sandbox_tier"),
        ("runs_dir", "runs_dir"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            setattr(ctx, name, value)
    return ctx


class ProgressPrinter:
    """One line per progress event on stderr: subagents, then the analyst and report steps."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "subagent":
            line = (
                f"  subagent {event['task_id']:<8} {event['state']:<9} pages={event.get('pages', 0)} "
                f"{event.get('elapsed', 0):>6.2f}s  {event.get('url') or event['site']}"
            )
        elif kind == "plan":
            line = f"plan: {len(event['tasks'])} subagent(s), {event['refused']} target(s) refused"
        else:
            extra = {k: v for k, v in event.items() if k not in ("event", "state")}
            line = f"{kind}: {event.get('state', '')} {extra if extra else ''}".rstrip()
        print(f"[{time.monotonic() - self.started:6.2f}s] {line}", file=sys.stderr, flush=True)


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


def _fail(message: str, *, as_json: bool, code: int, **extra: Any) -> int:
    if as_json:
        print(json.dumps({"error": message, **extra}, indent=2))
    print(f"flotilla: {message}", file=sys.stderr)
    return code


async def research_command(
    args: argparse.Namespace, *, allow_hosts: list[str] | None = None
) -> int:
    """`flotilla research`: the whole pipeline."""
    from memory.redis_server import RedisUnavailable

    if not args.question.strip():
        return _fail(
            "the question is empty: say what to research", as_json=args.json, code=EXIT_USAGE
        )
    ctx = make_context(args, allow_hosts=allow_hosts)
    try:
        output = await run_research(args.question, args.url, ctx, thread=args.thread)
    except RedisUnavailable as exc:
        return _fail(str(exc), as_json=args.json, code=EXIT_SERVICE)
    _print_result(output, as_json=args.json)
    return EXIT_OK if usable(output) else EXIT_NOTHING


async def browse_command(args: argparse.Namespace) -> int:
    """`flotilla browse`: one subagent on one site, findings as JSON."""
    from nodes.browser import run_subagent

    ctx = make_context(args)
    try:
        url = validate_url(args.url)
    except EgressRefused as refusal:
        return _fail(
            str(refusal), as_json=args.json, code=EXIT_USAGE, rule=refusal.rule, url=args.url
        )
    printer = ProgressPrinter()
    task = SiteTask(task_id="site-1", url=url, goal=args.goal)
    findings = await run_subagent(
        task,
        ctx,
        artifacts_root=ctx.runs_dir,
        thread_id=f"browse-{uuid.uuid4().hex[:12]}",
        progress=lambda step, fields: printer(
            {"event": "subagent", "task_id": task.task_id, "site": url, "state": step, **fields}
        ),
    )
    if findings.status == "refused":
        error = findings.errors[0]
        return _fail(error.message, as_json=args.json, code=EXIT_USAGE, rule=error.rule, url=url)
    print(
        findings.model_dump_json(indent=2) if args.json else _findings_text(findings.model_dump())
    )
    return EXIT_OK if findings.status in ("ok", "partial") else EXIT_NOTHING


def _findings_text(findings: dict[str, Any]) -> str:
    lines = [
        f"{findings['site']}: {findings['status']}, {len(findings['pages_visited'])} pages",
        "",
        findings["summary"],
        "",
    ]
    lines += [f"- {fact['text']}" for fact in findings["key_facts"]]
    lines += [f"table: {t['artifact']['path']}" for t in findings["tables"]]
    lines += [f"error: {e['message']}" for e in findings["errors"]]
    return "\n".join(lines)


async def demo_command(args: argparse.Namespace) -> int:
    """`flotilla demo`: the bundled sites, served on loopback and allow-listed by host and port."""
    from demo_sites.server import DemoSites

    with DemoSites(latency_s=args.latency) as sites:
        print(f"demo sites: {', '.join(sites.urls.values())}", file=sys.stderr)
        args.question, args.url = DEMO_QUESTION, list(sites.urls.values())
        args.max_subagents = args.max_parallel = args.sandbox_tier = None
        return await research_command(args, allow_hosts=sites.allow_hosts)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `flotilla` console script."""
    args = build_parser().parse_args(argv)
    commands = {"research": research_command, "browse": browse_command, "demo": demo_command}
    try:
        return asyncio.run(commands[args.command](args))
    except KeyboardInterrupt:
        print("flotilla: interrupted; finished steps are checkpointed in Redis", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
