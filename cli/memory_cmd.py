"""`flotilla memory`: inspect and correct long-term memory (search, list, forget)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cli.common import (
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_SERVICE,
    add_memory_options,
    fail,
    make_context,
)
from graph.context import Context


def register(sub: Any) -> None:
    """Add `memory search|list|forget` to the CLI."""
    memory = sub.add_parser("memory", help="inspect and correct long-term memory")
    actions = memory.add_subparsers(dest="action", required=True)
    search = actions.add_parser(
        "search", help="insights that share words with TEXT or mean the same, best first"
    )
    search.add_argument("text")
    listing = actions.add_parser("list", help="the newest insights")
    forget = actions.add_parser("forget", help="delete one insight by its id")
    forget.add_argument("id", help="the id `memory list` or `memory search` printed")
    for parser in (search, listing, forget):
        parser.add_argument(
            "--namespace", default=Context().memory_namespace, help="user or project namespace"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        add_memory_options(parser)
        parser.set_defaults(handler=memory_command)
    for parser in (search, listing):
        parser.add_argument("--limit", type=int, default=20, help="most insights to print")


async def memory_command(args: argparse.Namespace) -> int:
    """Run one `flotilla memory` action against the configured memory (Redis or AgentCore)."""
    from graph.runner import memory_backend
    from memory.backend import MemoryUnavailable
    from memory.insights import forget, recall_with_keys

    backend = memory_backend(make_context(args))
    try:
        async with backend.open() as memory, memory.insights() as store:
            if args.action == "forget":
                found = await forget(store, args.namespace, args.id)
                return _forgot(args, found=found)
            query = args.text if args.action == "search" else ""
            rows = await recall_with_keys(store, args.namespace, query, limit=args.limit)
    except MemoryUnavailable as exc:
        return fail(str(exc), as_json=args.json, code=EXIT_SERVICE)
    except ValueError as exc:  # a namespace the store cannot hold
        return fail(str(exc), as_json=args.json, code=EXIT_NOTHING)
    insights = [{"id": key, **insight.model_dump()} for key, insight in rows]
    if args.json:
        print(json.dumps({"namespace": args.namespace, "insights": insights}, indent=2))
    else:
        for row in insights:
            value = f" [{row['value']}]" if row["value"] else ""
            print(f"{row['id']}  {row['date']}  {row['claim']}{value}")
            print(f"    from run {row['thread_id']}  {row['source_url'] or '(no source)'}")
        if not insights:
            print(f"(no insights in namespace {args.namespace!r})")
    return EXIT_OK if insights or args.action == "list" else EXIT_NOTHING


def _forgot(args: argparse.Namespace, *, found: bool) -> int:
    if not found:
        msg = f"no insight {args.id!r} in namespace {args.namespace!r}: `flotilla memory list` shows the ids"
        return fail(msg, as_json=args.json, code=EXIT_NOTHING, id=args.id)
    if args.json:
        print(json.dumps({"forgotten": args.id, "namespace": args.namespace}))
    else:
        print(f"forgot {args.id}")
    return EXIT_OK
