"""`flotilla resume` and `flotilla history`: checkpointed threads, continued and inspected."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

from cli.common import EXIT_OK, EXIT_SERVICE, EXIT_USAGE, add_memory_options, fail, make_context
from cli.live import progress_view
from cli.research import cli_runner, finish_run
from demo_sites.demo import SitesUnavailable
from graph.runner import ThreadError, memory_backend


def register(sub: Any) -> None:
    """Add `resume` and `history` to the CLI."""
    resume = sub.add_parser(
        "resume", help="finish a thread whose run was interrupted (killed, Redis lost)"
    )
    resume.add_argument("thread", help="the thread id the run printed or was given")
    resume.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_memory_options(resume)
    resume.set_defaults(handler=resume_command)
    history = sub.add_parser("history", help="list a thread's checkpoints, oldest first")
    history.add_argument("thread")
    history.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_memory_options(history)
    history.set_defaults(handler=history_command)


async def resume_command(args: argparse.Namespace) -> int:
    """`flotilla resume`: run what the thread had left, with the settings it was started with.

    Branches that finished before the interruption are not run again: their results are in
    the last checkpoint's pending writes. A `flotilla demo` thread gets its demo sites served
    again, on the ports its plan uses. The thread's memory is the one the flags and the
    environment name (`--memory agentcore --memory-id ID` for AgentCore Memory).
    """
    from memory.backend import MemoryUnavailable
    from nodes.llm.chat import ModelUnavailable

    backend = memory_backend(make_context(args))
    with progress_view(args) as (on_event, view):
        runner = cli_runner(on_event, view)
        runner.memory = backend
        try:
            result = await runner.resume(args.thread)
        except (MemoryUnavailable, SitesUnavailable) as exc:
            return fail(str(exc), as_json=args.json, code=EXIT_SERVICE, thread=args.thread)
        except ModelUnavailable as exc:
            return fail(str(exc), as_json=args.json, code=EXIT_USAGE, thread=args.thread)
        except ThreadError as exc:
            return fail(str(exc), as_json=args.json, code=EXIT_USAGE, thread=args.thread)
    return finish_run(result, args, view, None)


async def thread_history(thread_id: str, backend: Any = None) -> list[dict[str, Any]]:
    """The thread's checkpoints, oldest first: step, source, nodes that wrote it, next, time.

    `backend` is the thread's memory (a `memory.backend.MemoryBackend`; default: Redis).
    """
    from graph.builder import build_graph
    from memory.backend import RedisBackend

    config: Any = {"configurable": {"thread_id": thread_id}}
    async with (
        (backend or RedisBackend()).open() as memory,
        memory.checkpoints(ttl_minutes=None) as (saver, _),
    ):
        app = build_graph(checkpointer=saver)
        snapshots = [s async for s in app.aget_state_history(config)]
    snapshots.reverse()
    rows: list[dict[str, Any]] = []
    for before, snapshot in zip([None, *snapshots], snapshots, strict=False):
        # A checkpoint holds what the previous checkpoint's tasks wrote.
        wrote = _counted(t.name for t in before.tasks) if before is not None else []
        pending = [t for t in snapshot.tasks if snapshot.next]
        rows.append(
            {
                "checkpoint_id": snapshot.config["configurable"]["checkpoint_id"],
                "step": snapshot.metadata.get("step") if snapshot.metadata else None,
                "source": snapshot.metadata.get("source") if snapshot.metadata else None,
                "wrote": wrote,
                "next": _counted(snapshot.next),
                "finished_pending": sum(1 for t in pending if t.result is not None),
                "created_at": snapshot.created_at,
            }
        )
    return rows


def _counted(names: Any) -> list[str]:
    counts = Counter(names)
    return [name if n == 1 else f"{name}×{n}" for name, n in counts.items()]


async def history_command(args: argparse.Namespace) -> int:
    """`flotilla history`: one line per checkpoint."""
    from memory.backend import MemoryUnavailable

    try:
        rows = await thread_history(args.thread, memory_backend(make_context(args)))
    except MemoryUnavailable as exc:
        return fail(str(exc), as_json=args.json, code=EXIT_SERVICE)
    if not rows:
        return fail(
            f"there is no thread {args.thread!r}: check the id",
            as_json=args.json,
            code=EXIT_USAGE,
            thread=args.thread,
        )
    if args.json:
        print(json.dumps({"thread_id": args.thread, "checkpoints": rows}, indent=2))
        return EXIT_OK
    print(f"{'step':>4}  {'source':<6}  {'wrote':<28}  {'next':<24}  time")
    for row in rows:
        step = "" if row["step"] is None else row["step"]
        nxt = ", ".join(row["next"]) or "-"
        if row["finished_pending"]:
            nxt += f" ({row['finished_pending']} finished)"
        print(
            f"{step:>4}  {row['source'] or '':<6}  {', '.join(row['wrote']) or '-':<28}  "
            f"{nxt:<24}  {row['created_at']}"
        )
    return EXIT_OK
