"""`flotilla research`: the whole pipeline, checkpointed in Redis, and the runner it shares."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import sys
import uuid
from typing import TYPE_CHECKING, Any

from langgraph.types import Command

from cli.common import (
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_SERVICE,
    EXIT_USAGE,
    ProgressPrinter,
    add_brain_options,
    add_common_options,
    fail,
    make_context,
    token_usage_lines,
)
from graph.context import Context

if TYPE_CHECKING:
    from cli.demo import DemoRecord
    from graph.state import ResearchInput

DEMO_QUESTION = "Compare the monthly price and storage of each vendor's plans"


def register(sub: Any) -> None:
    """Add `research` to the CLI."""
    research = sub.add_parser("research", help="research a question across sites")
    research.add_argument("question")
    research.add_argument(
        "--url", action="append", default=[], required=True, help="a site to research"
    )
    add_thread_options(research)
    research.add_argument("--max-subagents", type=int, default=None)
    research.add_argument("--max-parallel", type=int, default=None)
    research.add_argument(
        "--sandbox-tier", choices=["auto", "gvisor", "bwrap", "none"], default=None
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
        type=float,
        default=None,
        metavar="MINUTES",
        help="expire the thread's checkpoints this long after last use (default: keep)",
    )


def usable(output: dict[str, Any]) -> bool:
    """Whether the run produced anything useful: some subagent read something."""
    return any(s["status"] in ("ok", "partial") for s in output.get("subagents", []))


OUTPUT_KEYS = (
    "thread_id",
    "brain",
    "answer",
    "report_path",
    "charts",
    "sources",
    "subagents",
    "token_usage",
    "errors",
)


class ThreadError(Exception):
    """The thread cannot be run as asked (unknown, or has an unfinished run); says what to do."""


class SitesUnavailable(Exception):
    """Sites the thread's plan needs cannot be served again (a port is taken); says what to do."""


def context_from(data: dict[str, Any]) -> Context:
    """A `Context` from recorded settings; keys this version does not know are ignored."""
    known = {f.name for f in dataclasses.fields(Context)}
    return Context(**{k: v for k, v in data.items() if k in known})


async def run_research(
    question: str,
    urls: list[str],
    ctx: Context,
    *,
    thread: str | None,
    demo: DemoRecord | None = None,
) -> dict[str, Any]:
    """Run the graph with Redis checkpoints and memory; return the run's output.

    On an existing thread the run continues it: the new question is planned afresh and the
    thread's earlier findings stay in its state (the report marks them). `demo` records that
    the URLs are the bundled demo sites this process serves, so a resume can serve them again.
    """
    thread_id = thread or f"run-{uuid.uuid4().hex[:12]}"
    return await run_thread(thread_id, {"question": question, "urls": urls}, ctx, demo=demo)


async def run_thread(
    thread_id: str,
    inputs: ResearchInput | None,
    ctx: Context | None,
    *,
    demo: DemoRecord | None = None,
) -> dict[str, Any]:
    """Run `inputs` on `thread_id`, or with `inputs=None` finish its interrupted run.

    `ctx=None` runs with the settings recorded when the thread last ran; when that run was on
    the demo sites, they are served again on the ports its plan uses. Raises
    `RedisUnavailable` when Redis is down or goes away mid-run (finished steps stay
    checkpointed), `ThreadError` when the thread cannot run as asked, `SitesUnavailable` when
    the demo sites cannot be served on their ports again.
    """
    from memory.redis_server import RedisUnavailable, connection_failure, redis_url

    async with redis_url() as url:
        try:
            return await _run_on(url, thread_id, inputs, ctx, demo)
        except Exception as exc:
            lost = None if isinstance(exc, RedisUnavailable) else connection_failure(exc)
            if lost is None:
                raise
            reason = str(lost).splitlines()[0].rstrip(". ") or type(lost).__name__
            msg = (
                f"Redis at {url!r} went away during the run ({reason}). Finished steps are "
                f"checkpointed: once Redis is back, run `flotilla resume {thread_id}`."
            )
            raise RedisUnavailable(msg) from None


async def _run_on(
    url: str,
    thread_id: str,
    inputs: ResearchInput | None,
    ctx: Context | None,
    demo: DemoRecord | None,
) -> dict[str, Any]:
    from cli.demo import DemoRecord
    from graph.builder import build_graph
    from memory.checkpoint import redis_saver
    from memory.insights import redis_store
    from memory.redis_server import async_client
    from memory.threads import load_thread_context, save_thread_context

    config: Any = {"configurable": {"thread_id": thread_id}}
    async with async_client(url) as client:
        if ctx is None:
            recorded = await load_thread_context(client, thread_id) or {}
            ctx = context_from(recorded)
            demo = DemoRecord.from_recorded(recorded)
        ttl = ctx.checkpoint_ttl_minutes
        async with redis_saver(url, ttl_minutes=ttl) as saver, redis_store(url) as store:
            app = build_graph(checkpointer=saver, store=store)
            state = await app.aget_state(config)
            _check_can_run(state, thread_id, resume=inputs is None, url=url)
            if inputs is not None or state.next:
                with contextlib.ExitStack() as stack:
                    if inputs is None and demo is not None:
                        # This process serves the sites the killed one did, where the plan
                        # expects them.
                        stack.enter_context(demo.serve_again(thread_id))
                    record = dataclasses.asdict(ctx) | (demo.recorded() if demo else {})
                    await save_thread_context(client, thread_id, record, ttl_minutes=ttl)
                    state = await _drive(app, config, ctx, inputs, thread_id)
    output = {key: state.values.get(key) for key in OUTPUT_KEYS}
    if output["token_usage"] is None and state.values.get("usage"):
        from nodes.llm.usage import summarise_usage

        output["token_usage"] = summarise_usage(state.values["usage"])
    return output


async def _drive(
    app: Any, config: Any, ctx: Context, inputs: ResearchInput | None, thread_id: str
) -> Any:
    """Stream the run (progress on stderr), asking a person at each plan review; the end state."""
    printer = ProgressPrinter()
    step: Any = inputs
    while True:
        # "sync": a step counts as done only once its checkpoint is in Redis, so losing Redis
        # stops the run at the next step rather than after the report.
        stream = app.astream(step, config, context=ctx, stream_mode="custom", durability="sync")
        async for event in stream:
            printer(event)
        state = await app.aget_state(config)
        pending = [i for task in state.tasks for i in task.interrupts]
        if not pending:
            return state
        decision = await asyncio.to_thread(ask_review, pending[0].value, thread_id)
        if decision is None:
            return state
        step = Command(resume=decision)


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


def check_models(ctx: Context) -> None:
    """With the llm brain asked for, every role needs a model: say which lack one, up front.

    Raises `ModelUnavailable` before anything starts, rather than after the plan.
    """
    if ctx.brain != "llm":
        return
    from nodes.llm.chat import ROLES, ModelUnavailable, configured_spec

    missing = [role for role in ROLES if not configured_spec(ctx, role)]
    if missing:
        msg = (
            f"the llm brain needs a model for the {', '.join(missing)}: pass --model "
            "provider:model (or --role-model ROLE=SPEC; env FLOTILLA_MODEL), provide AWS "
            "credentials for Amazon Bedrock, or use --brain offline"
        )
        raise ModelUnavailable(msg)


def _check_can_run(state: Any, thread_id: str, *, resume: bool, url: str) -> None:
    if resume and state.created_at is None:
        msg = f"there is no thread {thread_id!r} in Redis at {url!r}: check the id"
        raise ThreadError(msg)
    if not resume and state.next:
        msg = (
            f"thread {thread_id!r} has an unfinished run (next: {', '.join(state.next)}): "
            f"finish it with `flotilla resume {thread_id}`, or use another --thread"
        )
        raise ThreadError(msg)


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
        check_models(ctx)
        output = await run_research(args.question, args.url, ctx, thread=args.thread, demo=demo)
    except RedisUnavailable as exc:
        return fail(str(exc), as_json=args.json, code=EXIT_SERVICE)
    except (ThreadError, ModelUnavailable) as exc:
        return fail(str(exc), as_json=args.json, code=EXIT_USAGE)
    print_result(output, as_json=args.json)
    return EXIT_OK if usable(output) else EXIT_NOTHING
