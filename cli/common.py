"""What every `flotilla` command shares: options, the run's Context, progress lines, errors."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from graph.context import Context

EXIT_OK, EXIT_NOTHING, EXIT_USAGE, EXIT_SERVICE = 0, 1, 2, 3


def add_common_options(parser: argparse.ArgumentParser) -> None:
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
    ctx.approve_plan = bool(getattr(args, "approve", False))
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


def fail(message: str, *, as_json: bool, code: int, **extra: Any) -> int:
    if as_json:
        print(json.dumps({"error": message, **extra}, indent=2))
    print(f"flotilla: {message}", file=sys.stderr)
    return code
