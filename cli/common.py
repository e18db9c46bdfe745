"""What every `flotilla` command shares: options, the run's Context, progress lines, errors."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from typing import Any

from graph.context import LIMITS, MEMORIES, ROLES, Context, host_entry_problem, range_text

EXIT_OK, EXIT_NOTHING, EXIT_USAGE, EXIT_SERVICE = 0, 1, 2, 3

BRAINS = ("auto", "offline", "llm")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add the options every research-like command takes (hosts, brain, models, limits)."""
    parser.add_argument(
        "--allow-host",
        action="append",
        type=host_entry,
        default=[],
        metavar="HOST[:PORT]",
        help="allow a loopback/private host (refused by default)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--max-pages", type=limit("max_pages"), default=None, help="pages per subagent"
    )
    parser.add_argument("--runs-dir", default=None, help="where reports and artifacts go")


def role_model(value: str) -> tuple[str, str]:
    """`ROLE=SPEC` as (role, spec); an argparse type, so a bad value is a usage error."""
    role, sep, spec = value.partition("=")
    role, spec = role.strip(), spec.strip()
    if not sep or not role or not spec:
        msg = f"expected ROLE=SPEC (e.g. browser=ollama:llama3.1), got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    if role not in ROLES:
        msg = f"unknown role {role!r} in {value!r}: the roles are {', '.join(ROLES)}"
        raise argparse.ArgumentTypeError(msg)
    return role, spec


def token_count(value: str) -> int:
    """A token budget: a whole number, 0 or more (0: no budget), within `LIMITS`."""
    high = int(LIMITS["max_run_tokens"][1])
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= high:
        msg = (
            f"expected a whole number of tokens, 0 or more (0: no budget) and at most {high:,}, "
            f"got {value!r}"
        )
        raise argparse.ArgumentTypeError(msg)
    return number


def in_range(low: float, high: float, *, whole: bool = True) -> Callable[[str], float]:
    """An argparse type: a number from `low` to `high` (a whole one when `whole`)."""
    kind = "a whole number" if whole else "a number"

    def parse(value: str) -> float:
        try:
            number: float = int(value) if whole else float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or not low <= number <= high:
            msg = f"expected {kind} {range_text(low, high)}, got {value!r}"
            raise argparse.ArgumentTypeError(msg)
        return number

    parse.__name__ = kind  # argparse names the type in its messages
    return parse


def limit(name: str) -> Callable[[str], float]:
    """An argparse type for the `Context` field `name`: its range, as `LIMITS` gives it."""
    low, high = LIMITS[name]
    return in_range(low, high, whole=isinstance(Context.__dataclass_fields__[name].default, int))


def host_entry(value: str) -> str:
    """An argparse type: `HOST`, `HOST:PORT` or `[V6]:PORT`, as `Context.allow_hosts` takes."""
    problem = host_entry_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value.strip()


BRAIN_HELP = (
    "decision policy (default: env FLOTILLA_BRAIN, else auto: llm when a model is configured "
    "or AWS credentials are present, offline otherwise)"
)


def add_brain_options(
    parser: argparse.ArgumentParser, *, roles: bool = True, brain_help: str = BRAIN_HELP
) -> None:
    """--brain and --model; with `roles`, --role-model and --max-run-tokens too."""
    parser.add_argument("--brain", choices=BRAINS, default=None, help=brain_help)
    parser.add_argument(
        "--model",
        default=None,
        metavar="SPEC",
        help="chat model for every role, 'provider:model' (default: env FLOTILLA_MODEL)",
    )
    if not roles:
        return
    parser.add_argument(
        "--role-model",
        action="append",
        type=role_model,
        default=[],
        metavar="ROLE=SPEC",
        help=f"chat model for one role ({', '.join(ROLES)}); repeatable; overrides --model",
    )
    parser.add_argument(
        "--max-run-tokens",
        type=token_count,
        default=None,
        metavar="N",
        help="token budget for the whole run; when spent, no new model work starts (0: none)",
    )


def add_memory_options(parser: argparse.ArgumentParser) -> None:
    """--memory, --memory-id and --actor-id: where the thread's checkpoints and insights are."""
    parser.add_argument(
        "--memory",
        choices=MEMORIES,
        default=None,
        help="where checkpoints and insights live (default: env FLOTILLA_MEMORY, else redis)",
    )
    parser.add_argument(
        "--memory-id",
        default=None,
        metavar="ID",
        help="the AgentCore Memory id or ARN (env FLOTILLA_AGENTCORE_MEMORY_ID)",
    )
    parser.add_argument(
        "--actor-id",
        default=None,
        metavar="ACTOR",
        help="the AgentCore Memory actor (env FLOTILLA_AGENTCORE_ACTOR_ID, else flotilla)",
    )


def make_context(args: argparse.Namespace, *, allow_hosts: list[str] | None = None) -> Context:
    """A `Context` from the defaults, the environment and the flags given."""
    ctx = Context()
    ctx.allow_hosts = [*ctx.allow_hosts, *(allow_hosts or []), *getattr(args, "allow_host", [])]
    for flag, name in (
        ("max_pages", "max_pages"),
        ("max_subagents", "max_subagents"),
        ("max_parallel", "max_parallel"),
        ("sandbox_tier", "sandbox_tier"),
        ("runs_dir", "runs_dir"),
        ("brain", "brain"),
        ("model", "model"),
        ("max_run_tokens", "max_run_tokens"),
        ("memory", "memory"),
        ("memory_id", "agentcore_memory_id"),
        ("actor_id", "agentcore_actor_id"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            setattr(ctx, name, value)
    for role, spec in getattr(args, "role_model", None) or []:
        setattr(ctx, f"{role}_model", spec)
    ctx.approve_plan = bool(getattr(args, "approve", False))
    ttl = getattr(args, "checkpoint_ttl", None)
    if ttl is not None:
        ctx.checkpoint_ttl_minutes = ttl
    return dataclasses.replace(ctx)  # checked again, with the flags (e.g. a memory id missing)


def format_tokens(tokens: Any) -> str:
    """The token count an event carries (a subagent's total so far), for one line."""
    return f"{tokens:,}" if isinstance(tokens, int) else str(tokens)


class ProgressPrinter:
    """One line per progress event on stderr: subagents, then the analyst and report steps.

    Events from the llm brain carry the tool a subagent called and the tokens spent so far;
    they show on the line when present.
    """

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, event: dict[str, Any]) -> None:
        """Print one progress event as a timestamped line on stderr."""
        print(
            f"[{time.monotonic() - self.started:6.2f}s] {self.line(event)}",
            file=sys.stderr,
            flush=True,
        )

    @staticmethod
    def line(event: dict[str, Any]) -> str:
        """The progress line for one event, without its time stamp."""
        kind = event.get("event")
        if kind == "subagent":
            llm = f"tool={event['tool']}  " if event.get("tool") else ""
            if "tokens" in event:
                llm += f"tokens={format_tokens(event['tokens'])}  "
            return (
                f"  subagent {event['task_id']:<8} {event['state']:<9} pages={event.get('pages', 0)} "
                f"{event.get('elapsed', 0):>6.2f}s  {llm}{event.get('url') or event['site']}"
            )
        if kind == "plan":
            planner = event.get("planner") or "offline"
            by = "" if planner == "offline" else f" (planned by {planner})"
            return (
                f"plan: {len(event['tasks'])} subagent(s), {event['refused']} target(s) refused{by}"
            )
        extra = " ".join(
            f"{k}={v}" for k, v in event.items() if k not in ("event", "state", "tokens")
        )
        tokens = f" tokens={format_tokens(event['tokens'])}" if "tokens" in event else ""
        return f"{kind}: {event.get('state', '')} {extra}".rstrip() + tokens


def token_usage_lines(usage: dict[str, Any] | None) -> list[str]:
    """Calls and tokens per node, then the run's total: a table for the final summary."""
    nodes = (usage or {}).get("nodes") or {}
    total = (usage or {}).get("total") or {}
    if not nodes and not total.get("calls"):
        return []
    lines = [f"{'Tokens:':<13} {'calls':>5}  {'input':>9}  {'output':>9}  models"]
    rows = [(name, row, ", ".join(row.get("models") or [])) for name, row in nodes.items()]
    for name, row, models in [*rows, ("total", total, "")]:
        lines.append(
            f"  {name:<11} {row.get('calls', 0):>5}  {row.get('input_tokens', 0):>9,}  "
            f"{row.get('output_tokens', 0):>9,}  {models}".rstrip()
        )
    return lines


def fail(message: str, *, as_json: bool, code: int, **extra: Any) -> int:
    """Report an error (as JSON on stdout, or a line on stderr) and return the exit `code`."""
    if as_json:
        print(json.dumps({"error": message, **extra}, indent=2))
    print(f"flotilla: {message}", file=sys.stderr)
    return code
